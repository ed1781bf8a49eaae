"""Chromosomes: the three views of a pipeline that operators read and write.

* ``step_sequences``: the ordered steps, top level first, then every nested
  sequence (loop bodies) under its parent's name, each step as name, type and gene.
* ``provider_mappings``: which provider slot and model each LLM step uses, plus
  the pipeline's own slot bindings (``providers:``).
* ``prompt_patterns``: each LLM step's static prompt text split into phrases.

Readers take canonical pipeline data; writers return new data and never mutate
their input. :meth:`evofarm.evolution.genome.Genome.chromosomes` gives all three
as one JSON-serialisable :class:`Chromosomes`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evofarm.evolution.errors import EvolutionError
from evofarm.evolution.genes import provider_slot, step_gene
from evofarm.pipeline.structure import iter_bodies


class NoSuchStep(EvolutionError, KeyError):
    """A writer was asked to change a top-level step the pipeline does not have.

    A ``KeyError`` too (what the writers raised before), so callers that catch
    that keep working; ``str()`` is the step name.
    """

    def __str__(self) -> str:  # KeyError would quote the name
        return str(self.args[0]) if self.args else ""


_PHRASE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
TOP_LEVEL = ""


class StepLocus(BaseModel):
    """One step in a sequence: its name, type and gene."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str
    gene: str


class ProviderLocus(BaseModel):
    """The provider slot and model an LLM step runs on (``model`` None: slot default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slot: str
    model: str | None = None


class Chromosomes(BaseModel):
    """All three chromosomes of one pipeline (see module docs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step_sequences: dict[str, list[StepLocus]] = Field(default_factory=dict)
    provider_mappings: dict[str, ProviderLocus] = Field(default_factory=dict)
    slot_bindings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    prompt_patterns: dict[str, list[str]] = Field(default_factory=dict)


def _steps(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in data.get("steps", []) if isinstance(s, Mapping)]


def phrases_of(text: str) -> list[str]:
    """The phrases (sentences, lines) of a prompt text."""
    return [p.strip() for p in _PHRASE_SPLIT.split(text) if p.strip()]


def step_sequences(data: Mapping[str, Any]) -> dict[str, list[StepLocus]]:
    """``{"": top-level steps, "loop_name": its body, ...}`` in pipeline order."""
    return {
        owner: [
            StepLocus(name=str(s.get("name")), type=str(s.get("type")), gene=step_gene(s))
            for s in steps
        ]
        for owner, steps in iter_bodies(_steps(data), TOP_LEVEL)
    }


def provider_mappings(data: Mapping[str, Any]) -> dict[str, ProviderLocus]:
    """Top-level LLM step name -> its slot and model."""
    out: dict[str, ProviderLocus] = {}
    for step in _steps(data):
        slot = provider_slot(str(step.get("type", "")))
        if slot is not None:
            model = step.get("model")
            out[str(step.get("name"))] = ProviderLocus(
                slot=slot, model=str(model) if model else None
            )
    return out


def _first_static(step: Mapping[str, Any]) -> str | None:
    prompt = step.get("prompt")
    if not isinstance(prompt, list):
        return None
    for part in prompt:
        if isinstance(part, Mapping) and part.get("type") == "static":
            return str(part.get("content", ""))
    return None


def prompt_patterns(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Top-level LLM step name -> the phrases of its first static prompt part.

    That part is what :func:`with_prompt_phrases` writes back, so reading,
    editing and writing a pattern round-trips.
    """
    out: dict[str, list[str]] = {}
    for step in _steps(data):
        if provider_slot(str(step.get("type", ""))) is None:
            continue
        text = _first_static(step)
        if text is not None:
            out[str(step.get("name"))] = phrases_of(text)
    return out


def chromosomes_of(data: Mapping[str, Any]) -> Chromosomes:
    """All three chromosomes of canonical pipeline data."""
    bindings = data.get("providers") or {}
    return Chromosomes(
        step_sequences=step_sequences(data),
        provider_mappings=provider_mappings(data),
        slot_bindings={str(k): dict(v) for k, v in bindings.items() if isinstance(v, Mapping)},
        prompt_patterns=prompt_patterns(data),
    )


# ---------------------------------------------------------------- writers


def with_steps(data: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``data`` with its top-level step sequence replaced by ``steps``."""
    return {**copy.deepcopy(dict(data)), "steps": copy.deepcopy([dict(s) for s in steps])}


def with_step_model(data: Mapping[str, Any], step: str, model: str) -> dict[str, Any]:
    """``data`` with top-level step ``step`` set to run on ``model``.

    Raises:
        NoSuchStep: no top-level step is called ``step`` (a ``KeyError``).
    """
    steps = [dict(s) for s in _steps(data)]
    for i, item in enumerate(steps):
        if item.get("name") == step:
            steps[i] = {**item, "model": model}
            return with_steps(data, steps)
    raise NoSuchStep(step)


def with_slot_binding(
    data: Mapping[str, Any], slot: str, provider: str, model: str | None
) -> dict[str, Any]:
    """``data`` with its ``providers:`` binding of ``slot`` set."""
    bindings = dict(data.get("providers") or {})
    bindings[slot] = {"provider": provider, **({"model": model} if model else {})}
    return {**copy.deepcopy(dict(data)), "providers": bindings}


def with_prompt_phrases(
    data: Mapping[str, Any], step: str, phrases: Sequence[str]
) -> dict[str, Any]:
    """``data`` with the first static prompt part of ``step`` made of ``phrases``.

    Raises:
        NoSuchStep: no top-level step ``step`` with a static prompt part (a ``KeyError``).
    """
    steps = [dict(s) for s in _steps(data)]
    for i, item in enumerate(steps):
        prompt = item.get("prompt")
        if item.get("name") != step or not isinstance(prompt, list):
            continue
        for k, part in enumerate(prompt):
            if isinstance(part, Mapping) and part.get("type") == "static":
                parts = [dict(p) if isinstance(p, Mapping) else p for p in prompt]
                parts[k] = {**parts[k], "content": " ".join(phrases)}
                steps[i] = {**item, "prompt": parts}
                return with_steps(data, steps)
    raise NoSuchStep(step)
