"""What a template or a condition can see while a pipeline runs.

A :class:`Scope` is a read-only view of one pipeline invocation's state: its
inputs, ``global_vars``, the variables ``set_variable`` assigned, the records of
the steps run so far and the innermost loop frame. Templates
(:mod:`evofarm.pipeline.templates`) and conditions
(:mod:`evofarm.pipeline.conditions`) resolve dotted references against it, with
pipeline_ex's rules:

- ``inputs.x``, ``global_vars.x``, ``state.x`` / ``variables.x``, ``loop.x``;
- ``steps.NAME`` / ``steps.NAME.result`` is a step's result, ``steps.NAME.result.a.b``
  a path inside it; ``steps.NAME.a`` falls back under ``result`` (``result.a``);
- bare names (``{{code_file}}``, ``analysis.score``) are looked up in the loop frame,
  the variables, the inputs, the global variables and then the step records;
- a step record also answers ``success``, ``skipped``, ``status``, ``reason``,
  ``text`` and ``content`` when its result has no such key, so pipeline_ex
  conditions such as ``implement_fixes.success`` keep working;
- ``.length`` of a string, list or mapping is its length, and a JSON text is
  descended into as the data it encodes (LLM answers are often JSON).

A missing reference resolves to :data:`MISSING`, never raises: callers decide
whether that is an error (strict templates) or a falsy value (conditions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

StepStatus = Literal["completed", "skipped", "failed"]

# A JSON text larger than this is not parsed while walking a path into it.
_MAX_JSON_DESCENT_CHARS: Final = 1_000_000
_INDEX: Final = re.compile(r"-?[0-9]{1,9}")


class _Missing:
    """The type of :data:`MISSING`."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
"""A reference that does not resolve (distinct from a present ``None``)."""


@dataclass(frozen=True)
class StepRecord:
    """What a later step can read about an earlier one."""

    result: Any
    status: StepStatus = "completed"
    skip_reason: str | None = None

    def virtual_field(self, name: str) -> Any:
        """pipeline_ex's implicit fields of a step result, or :data:`MISSING`."""
        if name == "success":
            return self.status == "completed"
        if name == "skipped":
            return self.status == "skipped"
        if name == "status":
            return self.status
        if name in ("reason", "skip_reason"):
            return self.skip_reason if self.skip_reason is not None else MISSING
        if name in ("text", "content", "output", "response"):
            return self.result
        return MISSING


def _decode_json_text(value: str) -> Any:
    text = value.strip()
    if not text or text[0] not in "[{" or len(text) > _MAX_JSON_DESCENT_CHARS:
        return MISSING
    try:
        return json.loads(text)
    except ValueError:
        return MISSING


def _length(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    return MISSING


def get_path(value: Any, segments: Sequence[str]) -> Any:
    """Walk ``segments`` into ``value``: mapping keys, list indexes, ``length``.

    Returns :data:`MISSING` as soon as a segment does not resolve.
    """
    current = value
    for segment in segments:
        if isinstance(current, str):
            decoded = _decode_json_text(current)
            if decoded is MISSING:
                if segment == "length":
                    current = len(current)
                    continue
                return MISSING
            current = decoded
        if isinstance(current, Mapping) and segment in current:
            current = current[segment]
            continue
        if isinstance(current, list | tuple) and _INDEX.fullmatch(segment):
            index = int(segment)
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
            continue
        if segment == "length":
            current = _length(current)
            if current is MISSING:
                return MISSING
            continue
        return MISSING
    return current


def step_field(record: StepRecord, segments: Sequence[str]) -> Any:
    """Resolve ``segments`` against a step record (see the module docstring)."""
    if not segments:
        return record.result
    head, rest = segments[0], segments[1:]
    if head == "result":
        return get_path(record.result, rest)
    found = get_path(record.result, segments)
    if found is not MISSING:
        return found
    virtual = record.virtual_field(head)
    if virtual is MISSING:
        return MISSING
    return get_path(virtual, rest)


@dataclass(frozen=True)
class Scope:
    """A read-only view of the state a reference is resolved against.

    The mappings are shared with the running executor (not copied), so a
    scope must be used by the thread that built it, while that step runs.
    """

    inputs: Mapping[str, Any] = field(default_factory=dict)
    global_vars: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    steps: Mapping[str, StepRecord] = field(default_factory=dict)
    loop: Mapping[str, Any] | None = None

    def lookup(self, reference: str) -> Any:
        """Resolve a dotted reference; :data:`MISSING` when it does not exist."""
        segments = reference.strip().split(".")
        if any(not s for s in segments):
            return MISSING
        head, rest = segments[0], segments[1:]
        if head == "inputs":
            return get_path(self.inputs, rest)
        if head == "global_vars":
            return get_path(self.global_vars, rest)
        if head in ("state", "variables"):
            return get_path(self.variables, rest)
        if head == "steps":
            return self.step_value(rest[0], rest[1:]) if rest else MISSING
        if head == "loop" and self.loop is not None:
            return get_path(self.loop, rest)
        return self._bare(head, rest)

    def step_value(self, name: str, segments: Sequence[str]) -> Any:
        """The value at ``segments`` of step ``name``'s record, or :data:`MISSING`."""
        record = self.steps.get(name)
        if record is None:
            return MISSING
        return step_field(record, segments)

    def _bare(self, head: str, rest: Sequence[str]) -> Any:
        if self.loop is not None and head in self.loop and head not in _LOOP_META:
            return get_path(self.loop[head], rest)
        for namespace in (self.variables, self.inputs, self.global_vars):
            if head in namespace:
                return get_path(namespace[head], rest)
        return self.step_value(head, rest)


# Keys of a loop frame that are bookkeeping, not an iterator variable.
_LOOP_META: Final = frozenset(
    {"index", "total", "first", "last", "level", "parent", "iteration", "count"}
)
