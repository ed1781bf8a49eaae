"""Helpers shared by the operators: step access, summaries, choosing targets."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from evofarm.evolution.genome import Genome, MutationRecord, provider_slot, summarize_value
from evofarm.pipeline.step_types import STEP_REGISTRY

T = TypeVar("T")

SUMMARY_CHARS = 160


def step_fields(step_type: str) -> frozenset[str]:
    """The keys a step of ``step_type`` accepts (empty for an unregistered type)."""
    record = STEP_REGISTRY.items().get(step_type)
    return frozenset(record.model.model_fields) if record is not None else frozenset()


def steps_of(genome: Genome) -> list[dict[str, Any]]:
    """A deep copy of the genome's top-level steps, safe to edit."""
    return copy.deepcopy(list(genome.pipeline.get("steps", [])))


def summarize(value: Any) -> str:
    """Short one-line JSON of a step or fragment for mutation records."""
    return summarize_value(value, SUMMARY_CHARS)


def with_steps(
    genome: Genome,
    steps: list[dict[str, Any]],
    generation: int,
    *,
    operator: str,
    target: str | None,
    before: Any,
    after: Any,
    rationale: str,
) -> Genome:
    """The raw child of ``genome`` with ``steps``, recording the mutation."""
    record = MutationRecord(
        operator=operator,
        target=target,
        before=before if isinstance(before, str) else summarize(before),
        after=after if isinstance(after, str) else summarize(after),
        rationale=rationale,
    )
    return genome.derive({**genome.pipeline, "steps": steps}, record, generation)


def pick_index(rng: random.Random, items: Sequence[T], accept: Callable[[T], bool]) -> int | None:
    """A random index among items ``accept`` holds for, or None."""
    candidates = [i for i, item in enumerate(items) if accept(item)]
    return rng.choice(candidates) if candidates else None


def is_llm_step(step: dict[str, Any]) -> bool:
    """A step that calls a provider."""
    return provider_slot(str(step.get("type", ""))) is not None


def is_transform(step: dict[str, Any]) -> bool:
    """An evofarm ``transform`` step."""
    return step.get("type") == "transform" and isinstance(step.get("operations"), list)


def fresh_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever is not in ``taken``."""
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"
