"""Collective memory, the pure part: patterns mined from winners, failures, the gallery.

When a campaign ends, :func:`mine_patterns` cuts its winner into reusable
fragments:

* ``ops``: each transform step's operation list, and each of its operations
  alone (what feature insertion can splice into another pipeline);
* ``structure``: the sequence of step types (``transform > llm > transform``);
* ``phrase``: each sentence of an LLM step's prompt text.

A pattern's ``key`` is a hash of its kind and canonical fragment, so the same
fragment mined from two campaigns is one pattern (its ``winners`` count grows;
its first record, with the genome it first appeared in, is the innovation
gallery's entry). :func:`offered_fragments` ranks ``ops`` patterns for a later
campaign that opts in (``memory.use``): most winners first, then best fitness,
then key. Failures are deduplicated by outcome and normalised reason
(:func:`failure_key`). Everything here is pure and deterministic.

The memory is shared data any campaign (or anyone with the Redis) writes, so
an offered fragment is untrusted: :func:`fragment_problem` holds it to the
limits of a user's pipeline (the loader's schema, regex guard, operation
count, nesting and size caps) before it can reach an operator.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from evofarm.errors import UserInputError
from evofarm.pipeline.loader import MAX_PIPELINE_BYTES, pipeline_from_data

PatternKind = Literal["ops", "structure", "phrase"]

#: Longest prompt sentence kept as a phrase pattern.
MAX_PHRASE = 200
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER = re.compile(r"\d+")


class Pattern(BaseModel):
    """One fragment of a winner.

    Attributes:
        kind: ``ops``, ``structure`` or ``phrase``.
        key: Hash of kind and canonical fragment (identity across campaigns).
        fragment: The fragment (op list, step-type list or text).
        campaign: The campaign it was first mined from.
        genome: The winner it first appeared in.
        fitness: That winner's fitness.
        winners: How many campaign winners contained it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PatternKind
    key: str
    fragment: JsonValue
    campaign: str
    genome: str
    fitness: float
    winners: int = Field(default=1, ge=1)


class Failure(BaseModel):
    """One failure-museum entry: an outcome and reason seen, with its first example.

    Attributes:
        key: :func:`failure_key` of outcome and reason.
        outcome: The evaluation outcome (``invalid``, ``timeout``, ``error``, ...).
        reason: The normalised reason (numbers replaced by ``N``, capped).
        campaign: Where it was first seen.
        genome: The genome it was first seen in.
        count: How many times it was recorded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    outcome: str
    reason: str
    campaign: str
    genome: str
    count: int = Field(default=1, ge=1)


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _pattern(kind: PatternKind, fragment: Any, campaign: str, genome: str, fit: float) -> Pattern:
    text = json.dumps(fragment, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Pattern(
        kind=kind, key=_key(kind, text), fragment=fragment, campaign=campaign, genome=genome,
        fitness=fit,
    )  # fmt: skip


def mine_patterns(
    pipeline: Mapping[str, Any], *, campaign: str, genome: str, fitness: float
) -> list[Pattern]:
    """The patterns of one winner's pipeline data, deduplicated, sorted by key."""
    found: dict[str, Pattern] = {}

    def add(kind: PatternKind, fragment: Any) -> None:
        pattern = _pattern(kind, fragment, campaign, genome, fitness)
        found.setdefault(pattern.key, pattern)

    steps = [s for s in pipeline.get("steps", []) if isinstance(s, Mapping)]
    if steps:
        add("structure", [str(s.get("type", "")) for s in steps])
    for step in steps:
        operations = step.get("operations")
        if step.get("type") == "transform" and isinstance(operations, list) and operations:
            ops = [dict(op) for op in operations if isinstance(op, Mapping)]
            add("ops", ops)
            for op in ops:
                add("ops", [op])
        prompt = step.get("prompt")
        if isinstance(prompt, str):
            for sentence in _SENTENCE.split(prompt):
                text = sentence.strip()
                if 8 <= len(text) <= MAX_PHRASE and "{{" not in text:
                    add("phrase", text)
    return [found[k] for k in sorted(found)]


def normalise_reason(reason: str | None) -> str:
    """A reason with numbers as ``N`` and at most 200 characters (for deduplication)."""
    return _NUMBER.sub("N", (reason or "").strip())[:200]


def failure_key(outcome: str, reason: str | None) -> str:
    """The museum identity of a failure: outcome plus normalised reason."""
    return _key("failure", outcome, normalise_reason(reason))


def fragment_problem(fragment: JsonValue) -> str | None:
    """Why ``fragment`` may not be offered to an operator, or None if it may.

    It must be a non-empty list of operation mappings that a user's pipeline
    could hold in one ``transform`` step: the loader's schema and validation
    with the default limits (regex safety, operation count, nesting), and its
    JSON no larger than a pipeline file may be.
    """
    if not isinstance(fragment, list) or not fragment:
        return "expected a non-empty list of operations"
    if not all(isinstance(op, dict) for op in fragment):
        return "expected every operation to be a mapping"
    try:
        size = len(json.dumps(fragment, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return "not plain JSON data"
    if size > MAX_PIPELINE_BYTES:
        return f"{size} characters, over the {MAX_PIPELINE_BYTES} a pipeline may have"
    # A host step for validation only: its input is never run.
    step = {"name": "pattern", "type": "transform", "input": "{{inputs.fragment}}"}
    data = {"name": "memory-pattern", "steps": [{**step, "operations": fragment}]}
    try:
        pipeline_from_data(data, "memory pattern")
    except UserInputError as exc:
        return str(exc)
    return None


def offered_fragments(patterns: Sequence[Pattern], limit: int) -> tuple[tuple[JsonValue, ...], ...]:
    """The ``ops`` fragments offered to feature insertion, best first (see module docs).

    Fragments that fail :func:`fragment_problem` are left out before the
    ``limit`` is applied, so a bad record never takes a good one's place.
    """
    ranked = sorted(
        (p for p in patterns if p.kind == "ops" and isinstance(p.fragment, list)),
        key=lambda p: (-p.winners, -p.fitness, p.key),
    )
    offered: list[tuple[JsonValue, ...]] = []
    for pattern in ranked:
        if len(offered) >= limit:
            break
        if isinstance(pattern.fragment, list) and fragment_problem(pattern.fragment) is None:
            offered.append(tuple(pattern.fragment))
    return tuple(offered)
