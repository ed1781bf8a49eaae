"""Simplifying a winner before it is written: dead steps, no-op and repeated ops removed.

:func:`simplify` is a pure rewrite of canonical pipeline data. It removes

* **dead steps**: top-level steps whose result no other step reads (templates,
  conditions, ``previous_response`` parts, loop bodies), that are not the last
  step and have no side effect. Only step types known to be pure qualify
  (:data:`PURE_STEP_TYPES`, without ``output_to_file``); anything else (file
  writes, ``set_variable``, LLM calls, code) is kept;
* **no-op transform ops**: ``replace`` of a string by itself, empty
  ``prefix``/``suffix``, ``pad`` to width 0, ``slice`` with no bounds;
* **repeated idempotent ops**: an op equal to the one right before it when
  applying it twice is applying it once (``strip``, ``lower``, ``upper``,
  ``title``, ``strip_code_fences``).

It never changes what the pipeline computes for any step that is read, but a
suite's checks may read any step (``steps.X.result``) and the run's output is
the last *executed* step: so a simplified pipeline is a new genome that the
campaign evaluates like any other and keeps only if its fitness is unchanged
(:mod:`evofarm.evolution.final_choice`). The function is deterministic and
idempotent (``simplify(simplify(d)) == simplify(d)``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evofarm.evolution.references import explicit_references, step_references

#: Step types whose only effect is their result. A plugin step type is never
#: assumed pure: a dead step of unknown type is kept.
PURE_STEP_TYPES = frozenset({"transform", "test_echo"})

#: Ops ``f`` with ``f(f(x)) == f(x)`` for equal parameters.
IDEMPOTENT_OPS = frozenset({"strip", "lower", "upper", "title", "strip_code_fences"})


@dataclass(frozen=True)
class Simplified:
    """What :func:`simplify` did.

    Attributes:
        data: the simplified pipeline data (a new object; the input is untouched).
        removed_steps: names of the dead steps removed, in removal order.
        removed_ops: ``(step, index in the original op list, op name)`` per op removed.
    """

    data: dict[str, Any]
    removed_steps: list[str] = field(default_factory=list)
    removed_ops: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was removed."""
        return bool(self.removed_steps or self.removed_ops)

    def describe(self) -> str:
        """One line for a mutation record."""
        parts = []
        if self.removed_steps:
            parts.append(f"dead steps {', '.join(self.removed_steps)}")
        if self.removed_ops:
            parts.append(f"{len(self.removed_ops)} no-op/repeated ops")
        return "removed " + "; ".join(parts) if parts else "nothing to remove"


def _is_noop(op: Mapping[str, Any]) -> bool:
    name = op.get("op")
    if name == "replace":
        return op.get("old") == op.get("new")
    if name in ("prefix", "suffix"):
        return op.get("text") == ""
    if name == "pad":
        return op.get("width") == 0
    if name == "slice":
        return op.get("start") in (None, 0) and op.get("end") is None
    return False


def _simplify_ops(step: dict[str, Any], removed: list[tuple[str, int, str]]) -> None:
    ops = step.get("operations")
    if step.get("type") != "transform" or not isinstance(ops, list) or not ops:
        return
    kept: list[Any] = []
    dropped: list[tuple[str, int, str]] = []
    for index, op in enumerate(ops):
        if not isinstance(op, Mapping):
            kept.append(op)
            continue
        repeated = bool(kept) and op.get("op") in IDEMPOTENT_OPS and kept[-1] == op
        if repeated or _is_noop(op):
            dropped.append((str(step.get("name")), index, str(op.get("op"))))
            continue
        kept.append(op)
    if not kept:
        # A transform needs one op: an all-no-op list keeps its first.
        kept, dropped = [ops[0]], dropped[1:]
    step["operations"] = kept
    removed.extend(dropped)


def _removable(step: Mapping[str, Any]) -> bool:
    return step.get("type") in PURE_STEP_TYPES and not step.get("output_to_file")


def _dead_step(steps: list[dict[str, Any]]) -> int | None:
    """Index of the first dead step (see module docs), or None."""
    names = {str(s.get("name")) for s in steps}
    read: set[str] = set()
    for step in steps:
        read |= step_references(step, names) | explicit_references(step)
    for index, step in enumerate(steps[:-1]):
        if _removable(step) and str(step.get("name")) not in read:
            return index
    return None


def simplify(data: Mapping[str, Any]) -> Simplified:
    """Simplify canonical pipeline data (see module docs); the input is not modified."""
    result = copy.deepcopy(dict(data))
    steps = result.get("steps")
    if not isinstance(steps, list):
        return Simplified(result)
    removed_ops: list[tuple[str, int, str]] = []
    for step in steps:
        if isinstance(step, dict):
            _simplify_ops(step, removed_ops)
    removed_steps: list[str] = []
    # Removing one dead step can leave the steps it read dead in turn.
    while all(isinstance(s, dict) for s in steps):
        index = _dead_step(steps)
        if index is None:
            break
        removed_steps.append(str(steps.pop(index).get("name")))
    # Ops of removed steps are not worth reporting.
    gone = set(removed_steps)
    removed_ops = [r for r in removed_ops if r[0] not in gone]
    return Simplified(result, removed_steps, removed_ops)
