"""``llm_mutation``: reflective mutation by an LLM (``pipelines/meta/reflective_mutation.yaml``).

The LLM form of :mod:`~evofarm.evolution.operators.reflective_mutation`: the
same :class:`~evofarm.evolution.proposals.Proposer` protocol and the same
evidence, but the proposal comes from the campaign's proposer, reached through
``context.proposer``. It reads the parent's YAML, its fitness, the failing
training cases (input, output, expected, failed checks), earlier attempts on
the same parent and one component in focus (drawn from ``rng``), and returns a
whole pipeline that changes that one component. The reply is parsed strictly
(:mod:`evofarm.evolution.llm.proposal`); a bad one is discarded with its reason.

Registered with rate 0: a campaign opts in under ``evolution.operators`` and
names its ``proposer:``; without a proposer the operator is a no-op. It does
not need evidence: in a blind draw (``random_search``'s default) it gets none
and no earlier attempts, and rewrites the focus component from the YAML alone,
a blind mutation.
"""

from __future__ import annotations

import random

from evofarm.evolution.genome import Genome, MutationRecord
from evofarm.evolution.llm.operator_kit import ask, child_of
from evofarm.evolution.llm.prompting import mutation_inputs
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.registry import register_operator
from evofarm.evolution.proposals import Evidence
from evofarm.pipeline.schema import Pipeline

NAME = "llm_mutation"


class LLMMutationProposer:
    """The LLM proposer (a :class:`~evofarm.evolution.proposals.Proposer`).

    Deterministic given its arguments when the context's runtime is (replay, mock).
    """

    def propose(
        self,
        parent: Genome,
        evidence: Evidence | None,
        rng: random.Random,
        context: OperatorContext,
    ) -> tuple[Pipeline, MutationRecord] | None:
        """The proposed pipeline and its mutation record; None without a runtime.

        Raises:
            ProposalRejected: the proposal was discarded (the reason is counted).
        """
        if context.proposer is None:
            return None
        inputs = mutation_inputs(parent, evidence, context.attempts, rng)
        pipeline, change, why = ask(context.proposer, "mutation", inputs, parent)
        record = MutationRecord(
            operator=NAME,
            target=inputs["focus"] if inputs["focus"] in _step_names(parent) else None,
            before=f"fitness {inputs['fitness']}",
            after=change or "proposed pipeline",
            rationale=why or f"{NAME}: reflective proposal",
        )
        return pipeline, record

    def __call__(
        self, parent: Genome, evidence: Evidence, rng: random.Random, context: OperatorContext
    ) -> Pipeline | None:
        made = self.propose(parent, evidence, rng, context)
        return made[0] if made is not None else None


def _step_names(genome: Genome) -> set[str]:
    return {str(s.get("name")) for s in genome.pipeline.get("steps", []) if isinstance(s, dict)}


PROPOSER = LLMMutationProposer()


@register_operator(NAME, 0.0, "an LLM rewrites one component from failing cases (needs proposer:)")
def llm_mutation(genome: Genome, rng: random.Random, context: OperatorContext) -> Genome | None:
    """Ask the campaign's proposer for an improved pipeline (see module docs)."""
    made = PROPOSER.propose(genome, context.evidence, rng, context)
    if made is None:
        return None
    pipeline, record = made
    return child_of(genome, pipeline, record, context)
