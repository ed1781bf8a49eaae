"""Validating, repairing and counting every child an operator makes.

:func:`finalize` is the one gate between an operator's raw output and the
population: the child's pipeline data is reloaded through the pipeline loader
(schema), canonicalised (so its id is the canonical hash), checked for
duplicate step names, references to steps that do not run before it, and the
campaign's step limit. Reference problems are repaired by pointing the
reference at the nearest earlier step; a child that still fails is discarded.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from evofarm.errors import UserInputError
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.proposal import ProposalRejected
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.registry import get_operator
from evofarm.evolution.outcomes import OutcomeName
from evofarm.evolution.references import explicit_references, rename_reference, step_references
from evofarm.pipeline.loader import pipeline_from_data, pipeline_to_data


def reference_problems(steps: list[Mapping[str, Any]]) -> list[str]:
    """Duplicate names and references to steps that are not earlier in the list."""
    problems: list[str] = []
    names = [str(s.get("name")) for s in steps]
    every = set(names)
    for i, step in enumerate(steps):
        if names[i] in names[:i]:
            problems.append(f"duplicate step name {names[i]!r}")
        earlier = set(names[:i])
        refs = step_references(step, every) | explicit_references(step)
        for ref in sorted(refs - earlier):
            problems.append(f"step {names[i]!r} reads {ref!r}, which does not run before it")
    return problems


def unique_names(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rename repeated step names (``x`` -> ``x_2``, ``x_3`` ...), keeping the first."""
    taken: set[str] = set()
    out: list[dict[str, Any]] = []
    for step in steps:
        name = str(step.get("name"))
        if name in taken:
            base, n = name, 2
            while f"{base}_{n}" in taken:
                n += 1
            name = f"{base}_{n}"
        taken.add(name)
        out.append({**step, "name": name})
    return out


def repair_references(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Point every reference to a step that does not run earlier at the previous step.

    The previous step is the closest stand-in for a missing input: after a
    deletion it is what fed the deleted step, after a transplant it is what now
    precedes the transplanted step. Steps that cannot be repaired (the first
    step reading another step) are left as they are, to be rejected.
    """
    steps = unique_names(steps)
    every = {str(s.get("name")) for s in steps}
    fixed: list[dict[str, Any]] = []
    for i, original in enumerate(steps):
        step = original
        earlier = {str(s.get("name")) for s in steps[:i]}
        if i > 0:
            stand_in = str(steps[i - 1].get("name"))
            refs = step_references(step, every) | explicit_references(step)
            for ref in sorted(refs - earlier):
                step = rename_reference(step, ref, stand_in)
        fixed.append(step)
    return fixed


def problems_of(
    data: Mapping[str, Any], context: OperatorContext
) -> tuple[list[str], Genome | None]:
    """Problems of a child's pipeline data, and its canonical genome form if it has none.

    The loader checks the schema and the pipeline validator (references, names,
    limits); this adds evolution's own rules: steps only read earlier steps, and
    the campaign's step limit.
    """
    try:
        pipeline = pipeline_from_data(dict(data), "<offspring>")
    except UserInputError as exc:
        return [str(exc)], None
    canonical = pipeline_to_data(pipeline)
    steps = canonical.get("steps", [])
    problems = reference_problems(steps)
    if not steps:
        problems.append("no steps")
    if len(steps) > context.max_steps:
        problems.append(f"{len(steps)} steps is over the limit of {context.max_steps}")
    return problems, None if problems else Genome.from_data(canonical)


def finalize(raw: Genome, context: OperatorContext) -> tuple[Genome | None, OutcomeName]:
    """Validate ``raw``; repair it if needed; return the canonical child and the outcome.

    Returns:
        ``(child, "applied")``, ``(child, "repaired")`` or ``(None, "invalid")``.
    """
    problems, canonical = problems_of(raw.pipeline, context)
    outcome: OutcomeName = "applied"
    if problems:
        steps = [dict(s) for s in raw.pipeline.get("steps", []) if isinstance(s, Mapping)]
        repaired = {**raw.pipeline, "steps": repair_references(steps)}
        problems, canonical = problems_of(repaired, context)
        outcome = "repaired"
    if problems or canonical is None:
        return None, "invalid"
    mutations = list(raw.mutations)
    if outcome == "repaired" and mutations:
        mutations[-1] = mutations[-1].model_copy(update={"outcome": "repaired"})
    child = Genome.from_data(
        canonical.pipeline, generation=raw.generation, parents=raw.parents, mutations=mutations
    )
    return child, outcome


def apply_operator(
    name: str, genome: Genome, rng: random.Random, context: OperatorContext
) -> tuple[Genome | None, OutcomeName]:
    """Run operator ``name`` on ``genome`` and pass its child through :func:`finalize`.

    Returns ``(None, "noop")`` when the operator had nothing to do or changed
    nothing, ``(None, "invalid")`` when its child could not be repaired.

    Raises:
        KeyError: No operator is registered under ``name``.
    """
    child, outcome, _ = apply_operator_with_reason(name, genome, rng, context)
    return child, outcome


def apply_operator_with_reason(
    name: str, genome: Genome, rng: random.Random, context: OperatorContext
) -> tuple[Genome | None, OutcomeName, str | None]:
    """:func:`apply_operator`, plus why a child was discarded when that is known.

    An operator that rejects its own proposal raises
    :class:`~evofarm.evolution.llm.proposal.ProposalRejected`: the outcome is
    ``invalid`` with its reason; other invalid children have no reason.

    Raises:
        KeyError: No operator is registered under ``name``.
    """
    try:
        raw = get_operator(name).fn(genome, rng, context)
    except ProposalRejected as exc:
        return None, "invalid", exc.reason
    if raw is None:
        return None, "noop", None
    child, outcome = finalize(raw, context)
    if child is not None and child.id == genome.id:
        return None, "noop", None
    return child, outcome, None
