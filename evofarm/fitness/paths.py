"""Paths into the run view: selecting the field of a run that a check looks at.

A check's ``path`` is a dotted path into the *run view* of a case: a plain
mapping ``{"output": ..., "steps": {NAME: {"result": ..., ...}}, "status": ...,
"usage": {...}}`` built from the run trace. ``None`` (or ``"output"``) selects
the final output. Segments index mappings by key and lists by integer. When a
segment must look inside a string (LLM output is text), the string is parsed
as JSON first, so ``output.answer`` works on ``'{"answer": 4}'``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from evofarm.fitness.errors import FitnessError


class PathNotFound(FitnessError, LookupError):
    """The path does not resolve in the run view; the message names the segment."""


class BadPath(FitnessError, ValueError):
    """A path is malformed (an empty segment); a ``ValueError`` for validators."""


def parse_path(path: str | None) -> tuple[str, ...]:
    """Split a dotted path; ``None`` and ``""`` mean the final output.

    Raises:
        BadPath: a segment is empty.
    """
    if not path:
        return ("output",)
    parts = tuple(path.split("."))
    if any(not p for p in parts):
        raise BadPath(f"empty segment in path {path!r}")
    return parts


def _descend(current: Any, segment: str, walked: str) -> Any:
    if isinstance(current, str):
        try:
            current = json.loads(current)
        except ValueError:
            raise PathNotFound(f"{walked!r} is text, not JSON; cannot select {segment!r}") from None
    if isinstance(current, Mapping):
        if segment in current:
            return current[segment]
        raise PathNotFound(f"{walked!r} has no key {segment!r}")
    if isinstance(current, Sequence) and not isinstance(current, (str, bytes)):
        try:
            return current[int(segment)]
        except (ValueError, IndexError):
            raise PathNotFound(f"{walked!r} has no item {segment!r}") from None
    raise PathNotFound(f"{walked!r} is a {type(current).__name__}; cannot select {segment!r}")


def select_path(view: Mapping[str, Any], path: str | None) -> Any:
    """The value at ``path`` in ``view``.

    Raises:
        PathNotFound: a segment does not exist.
    """
    parts = parse_path(path)
    current: Any = view
    walked: list[str] = []
    for segment in parts:
        current = _descend(current, segment, ".".join(walked) or "<run>")
        walked.append(segment)
    return current
