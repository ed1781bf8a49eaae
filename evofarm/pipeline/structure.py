"""What evofarm knows about the structure of steps, in one place.

* which keys of a step hold nested steps run in the same scope (loop bodies):
  each step type declares them (``StepType.bodies``) in the step-type registry;
* which step types call an LLM and through which provider slot (also from the
  registry, so a plugin's LLM step counts like a built-in one);
* which keys hold conditions rather than templates, and which keys of a step
  are never templates (its own name, description, bodies, conditions).

:func:`iter_steps` and :func:`iter_bodies` are the one walker over nested steps,
on canonical pipeline data (plain dicts and lists). An inline ``pipeline`` step's
steps are a separate pipeline (their own names and scope) and are not walked;
``parallel_tasks`` are tasks of one step, not steps. Pure functions, no state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from evofarm.pipeline.step_types import STEP_REGISTRY

#: Keys whose values are conditions (evaluated by :mod:`evofarm.pipeline.conditions`).
CONDITION_KEYS: Final = frozenset({"condition", "break_condition", "continue_condition"})

#: Keys of a step whose strings are not templates evaluated against earlier steps.
NON_TEMPLATE_KEYS: Final = frozenset({"name", "description", "steps", "pipeline", *CONDITION_KEYS})

#: Where a step keeps its prompt parts.
PROMPT_KEY: Final = "prompt"


def body_keys(step_type: str) -> tuple[str, ...]:
    """Keys of a ``step_type`` step that hold nested step lists (empty if unknown)."""
    record = STEP_REGISTRY.items().get(step_type)
    return record.bodies if record is not None else ()


def provider_slot(step_type: str) -> str | None:
    """The provider slot an LLM step type uses (``claude``/``gemini``/...), else None."""
    record = STEP_REGISTRY.items().get(step_type)
    return record.provider_slot if record is not None and record.calls_llm else None


def provider_slots() -> frozenset[str]:
    """Every provider slot some registered LLM step type uses (``claude``, ``gemini``, ...)."""
    return frozenset(
        r.provider_slot for r in STEP_REGISTRY.items().values() if r.calls_llm and r.provider_slot
    )


def calls_llm(step_type: str) -> bool:
    """Whether steps of ``step_type`` call an LLM (False for unknown types)."""
    record = STEP_REGISTRY.items().get(step_type)
    return bool(record is not None and record.calls_llm)


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [s for s in value if isinstance(s, Mapping)] if isinstance(value, list) else []


def nested_bodies(step: Mapping[str, Any]) -> Iterator[list[Mapping[str, Any]]]:
    """The nested step lists of one step (its loop bodies), in key order."""
    for key in body_keys(str(step.get("type"))):
        yield _mappings(step.get(key))


def iter_steps(steps: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every step, depth first: each step, then the steps of its bodies."""
    for step in steps:
        yield step
        for body in nested_bodies(step):
            yield from iter_steps(body)


def iter_bodies(
    steps: Sequence[Mapping[str, Any]], owner: str = ""
) -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
    """``(owner, steps)`` for the top-level list (owner ``""``) and every body,
    in pipeline order; a body's owner is the name of the step holding it."""
    yield owner, list(steps)
    for step in steps:
        for body in nested_bodies(step):
            yield from iter_bodies(body, str(step.get("name")))


def top_steps(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The top-level steps of canonical pipeline data."""
    return _mappings(data.get("steps"))
