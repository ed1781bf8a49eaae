"""The genome: a pipeline's DNA.

A :class:`Genome` wraps one candidate pipeline (held as its canonical data, the
JSON-compatible dict of :func:`evofarm.pipeline.loader.pipeline_to_data`) with its
lineage and scores. Its id is the SHA-256 of that canonical data dumped with sorted
keys, so two identical pipelines are one genome, whoever bred them.

Genomes are immutable in spirit: operators build children with :meth:`Genome.child`
and record what they did as :class:`MutationRecord` entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evofarm.evolution.chromosomes import Chromosomes, chromosomes_of
from evofarm.evolution.genes import GENE_LENGTH, canonical_json, step_gene
from evofarm.pipeline import structure
from evofarm.pipeline.loader import pipeline_from_data, pipeline_to_data
from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.structure import provider_slot

__all__ = [
    "CHARS_PER_TOKEN",
    "GENE_LENGTH",
    "Genome",
    "MutationRecord",
    "Traits",
    "canonical_json",
    "derive_traits",
    "genome_id",
    "iter_steps",
    "prompt_text",
    "provider_slot",
    "step_gene",
    "summarize_value",
]

#: Rough characters per token, for the expected-token trait of prompts.
CHARS_PER_TOKEN = 4

Outcome = Literal["applied", "repaired"]


def summarize_value(value: Any, limit: int = 160) -> str:
    """Short one-line JSON of a value, for mutation records."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def genome_id(data: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical pipeline data."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


class MutationRecord(BaseModel):
    """What one operator did to make a genome.

    Attributes:
        operator: Registered operator name (or crossover name).
        target: The step it changed, if one.
        before: Short summary of the target before the change.
        after: Short summary after it.
        rationale: Why the operator made this change.
        outcome: ``repaired`` if the child needed reference repair to be valid.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    operator: str
    target: str | None = None
    before: str = ""
    after: str = ""
    rationale: str = ""
    outcome: Outcome = "applied"


class Traits(BaseModel):
    """Facts derived from the pipeline (never set by hand)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step_count: int
    step_types: list[str]
    providers: list[str]
    models: list[str]
    llm_steps: int
    transform_ops: int
    prompt_chars: int
    expected_tokens: int


def iter_steps(steps: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    """Every step, depth first, including loop bodies (see
    :func:`evofarm.pipeline.structure.iter_steps`, the one walker)."""
    return structure.iter_steps(steps)


def prompt_text(step: Mapping[str, Any]) -> str:
    """The static text of a step's prompt (other part kinds contribute nothing)."""
    prompt = step.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if not isinstance(prompt, list):
        return ""
    texts = [
        str(part.get("content", ""))
        for part in prompt
        if isinstance(part, Mapping) and part.get("type") == "static"
    ]
    return "\n".join(texts)


def _step_max_tokens(step: Mapping[str, Any]) -> int:
    for key in ("max_tokens", "token_budget"):
        value = step.get(key)
        if isinstance(value, int):
            return value
        if isinstance(value, Mapping):
            for inner in ("max_tokens", "max_output_tokens"):
                if isinstance(value.get(inner), int):
                    return int(value[inner])
    options = step.get("claude_options")
    if isinstance(options, Mapping) and isinstance(options.get("max_tokens"), int):
        return int(options["max_tokens"])
    return 0


def derive_traits(data: Mapping[str, Any]) -> Traits:
    """Compute a pipeline's traits from its canonical data."""
    steps = [s for s in data.get("steps", []) if isinstance(s, Mapping)]
    every = list(iter_steps(steps))
    types = sorted({str(s.get("type")) for s in every})
    providers: set[str] = set()
    models: set[str] = set()
    llm = prompt_chars = expected = transform_ops = 0
    for step in every:
        slot = provider_slot(str(step.get("type", "")))
        if step.get("type") == "transform":
            transform_ops += len(step.get("operations") or [])
        if slot is None:
            continue
        llm += 1
        providers.add(slot)
        if step.get("model"):
            models.add(str(step["model"]))
        chars = len(prompt_text(step))
        prompt_chars += chars
        expected += chars // CHARS_PER_TOKEN + _step_max_tokens(step)
    return Traits(
        step_count=len(steps),
        step_types=types,
        providers=sorted(providers),
        models=sorted(models),
        llm_steps=llm,
        transform_ops=transform_ops,
        prompt_chars=prompt_chars,
        expected_tokens=expected,
    )


class Genome(BaseModel):
    """One candidate pipeline with its lineage and scores (JSON round-trips).

    Attributes:
        id: SHA-256 of the canonical pipeline data (see :func:`genome_id`).
        generation: The generation it was born in (0 for seeds).
        parents: Parent genome ids (none for seeds, two after crossover).
        traits: Derived from the pipeline.
        mutations: The operators that produced it from its parents, in order.
        fitness_score: Scalar fitness once evaluated.
        objectives: Per-objective scores once evaluated.
        pipeline: Canonical pipeline data.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    generation: int = 0
    parents: list[str] = Field(default_factory=list)
    traits: Traits
    mutations: list[MutationRecord] = Field(default_factory=list)
    fitness_score: float | None = None
    objectives: dict[str, float] = Field(default_factory=dict)
    pipeline: dict[str, Any]

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        *,
        generation: int = 0,
        parents: Sequence[str] = (),
        mutations: Sequence[MutationRecord] = (),
    ) -> Genome:
        """Build a genome from canonical pipeline data (the caller vouches it is canonical)."""
        plain = json.loads(canonical_json(data))
        return cls(
            id=genome_id(plain),
            generation=generation,
            parents=list(parents),
            traits=derive_traits(plain),
            mutations=list(mutations),
            pipeline=plain,
        )

    @classmethod
    def from_pipeline(
        cls,
        pipeline: Pipeline,
        *,
        generation: int = 0,
        parents: Sequence[str] = (),
        mutations: Sequence[MutationRecord] = (),
    ) -> Genome:
        """Build a genome from a pipeline model."""
        return cls.from_data(
            pipeline_to_data(pipeline), generation=generation, parents=parents, mutations=mutations
        )

    def to_pipeline(self) -> Pipeline:
        """Rebuild the pipeline model.

        Raises:
            PipelineLoadError: The stored data no longer matches the schema.
        """
        return pipeline_from_data(self.pipeline, f"<genome {self.id[:12]}>")

    def child(self, pipeline: Pipeline, mutation: MutationRecord, generation: int) -> Genome:
        """A child of this genome made from a pipeline model (see :meth:`derive`)."""
        return self.derive(pipeline_to_data(pipeline), mutation, generation)

    def derive(self, data: Mapping[str, Any], mutation: MutationRecord, generation: int) -> Genome:
        """A child of this genome, born in ``generation``, made by ``mutation``.

        ``data`` need not be canonical yet: :func:`evofarm.evolution.repair.finalize`
        validates and canonicalises every child before it is used.

        When this genome is itself an offspring still being bred in ``generation``
        (operators are chained on one offspring), the child keeps this genome's
        parents and appends to its mutation records, so the final offspring lists
        everything that was done to it and points at the genomes it came from.
        """
        in_progress = self.generation == generation and bool(self.parents)
        return Genome.from_data(
            data,
            generation=generation,
            parents=self.parents if in_progress else [self.id],
            mutations=[*self.mutations, mutation] if in_progress else [mutation],
        )

    def chromosomes(self) -> Chromosomes:
        """The step-sequence, provider-mapping and prompt-pattern views of the pipeline."""
        return chromosomes_of(self.pipeline)

    @property
    def genes(self) -> tuple[str, ...]:
        """Signatures of the top-level steps, in order."""
        return tuple(step_gene(s) for s in self.pipeline.get("steps", []))

    @property
    def step_names(self) -> list[str]:
        """Names of the top-level steps, in order."""
        return [str(s.get("name")) for s in self.pipeline.get("steps", [])]
