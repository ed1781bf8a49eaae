"""``llm_crossover``: an LLM merges two parents (``breeding_chamber.yaml``'s crossover).

The partner is one of the context's donors (the fittest genomes), drawn from
``rng``; the proposer sees both pipelines, the first parent's failing cases and
earlier attempts, and the evolution goals, and returns one pipeline that keeps
the first parent's strengths and takes from the second what fixes its failures
(GEPA's merge and ShinkaEvolve's crossover prompt). The child lists both
parents. Same strict parsing and discard reasons as ``llm_mutation``.

Registered with rate 0 (opt-in); a no-op without a proposer or a partner.
It does not need evidence: in a blind draw it merges the two YAMLs alone.
"""

from __future__ import annotations

import random

from evofarm.evolution.genome import Genome, MutationRecord
from evofarm.evolution.llm.operator_kit import ask, child_of
from evofarm.evolution.llm.prompting import crossover_inputs
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.registry import register_operator

NAME = "llm_crossover"

GOALS = (
    "Raise the test rate first, then cut tokens and steps. Keep every step of "
    "parent A that its passing cases rely on; take from parent B only what handles "
    "the cases A fails. Do not grow the pipeline without need."
)


@register_operator(NAME, 0.0, "an LLM merges the parent with a fitter donor (needs proposer:)")
def llm_crossover(genome: Genome, rng: random.Random, context: OperatorContext) -> Genome | None:
    """Ask the campaign's proposer to merge ``genome`` with a donor (see module docs)."""
    if context.proposer is None:
        return None
    partners = [d for d in context.donors if d.id != genome.id]
    if not partners:
        return None
    partner = rng.choice(partners)
    inputs = crossover_inputs(genome, partner, context.evidence, context.attempts, GOALS)
    pipeline, change, why = ask(context.proposer, "crossover", inputs, genome)
    record = MutationRecord(
        operator=NAME,
        before=f"parents {genome.id[:12]} x {partner.id[:12]}",
        after=change or "merged pipeline",
        rationale=why or f"{NAME}: merge of two parents",
    )
    child = child_of(genome, pipeline, record, context)
    if partner.id in child.parents:
        return child
    return child.model_copy(update={"parents": [*child.parents, partner.id]})
