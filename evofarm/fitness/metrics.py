"""META-PIPELINE meta-metrics, computed once per generation.

All functions are pure and work on canonical pipeline data (``dict`` as
produced by ``pipeline_to_data``; either the ``{"workflow": {"steps": ...}}``
or the short ``{"steps": ...}`` form), so they need neither the store nor the
executor.

* **Step signature**: SHA-256 (16 hex) of a step's canonical JSON without its
  ``name`` and ``description``: the same behaviour under another name is the
  same fragment.
* **Structure key**: hash of the ordered list of step signatures.
* **Generation rate**: genomes produced per second of the generation.
* **Innovation**: :func:`innovation_share` (share of genomes whose structure
  key is not in the archive) and :func:`innovation_distance` (mean Jaccard
  distance from each genome's signature set to its nearest archive member).
* **Reusability index**: of all parent fragments (step signatures) inherited
  by offspring, the share that landed in offspring fitter than their best
  parent. 0 when nothing was inherited.
* **Self-improvement velocity**: least-squares slope of best fitness against
  generation number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from evofarm.fitness.errors import FitnessInputError

_IGNORED_STEP_KEYS = frozenset({"name", "description"})


def pipeline_steps(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The step list of canonical or short-form pipeline data ([] if none)."""
    body = data.get("workflow", data)
    steps = body.get("steps", []) if isinstance(body, Mapping) else []
    return [s for s in steps if isinstance(s, Mapping)] if isinstance(steps, list) else []


def _digest(obj: Any) -> str:
    payload = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def step_signature(step: Mapping[str, Any]) -> str:
    """The fragment identity of one step (name and description ignored)."""
    return _digest({k: v for k, v in step.items() if k not in _IGNORED_STEP_KEYS})


def signatures(data: Mapping[str, Any]) -> frozenset[str]:
    """The set of step signatures of a pipeline."""
    return frozenset(step_signature(s) for s in pipeline_steps(data))


def structure_key(data: Mapping[str, Any]) -> str:
    """The structural identity of a pipeline: its ordered step signatures."""
    return _digest([step_signature(s) for s in pipeline_steps(data)])


def generation_rate(genomes: int, elapsed_s: float) -> float:
    """Genomes per second; 0 when no time elapsed.

    Raises:
        FitnessInputError: negative inputs (a ``ValueError``).
    """
    if genomes < 0 or elapsed_s < 0:
        raise FitnessInputError("genomes and elapsed_s must be non-negative")
    return genomes / elapsed_s if elapsed_s > 0 else 0.0


def innovation_share(
    generation: Sequence[Mapping[str, Any]], archive_keys: Collection[str]
) -> float:
    """Share of ``generation`` whose structure key is not in ``archive_keys`` (0 if empty)."""
    if not generation:
        return 0.0
    new = sum(structure_key(g) not in archive_keys for g in generation)
    return new / len(generation)


def jaccard_distance(a: frozenset[str], b: frozenset[str]) -> float:
    """``1 - |a & b| / |a | b|``; two empty sets are identical (0)."""
    union = a | b
    return 1.0 - len(a & b) / len(union) if union else 0.0


def innovation_distance(
    generation: Sequence[Mapping[str, Any]], archive: Sequence[frozenset[str]]
) -> float:
    """Mean distance from each genome to its nearest archive member (1.0 vs an empty archive)."""
    if not generation:
        return 0.0
    if not archive:
        return 1.0
    dists = [min(jaccard_distance(signatures(g), a) for a in archive) for g in generation]
    return sum(dists) / len(dists)


@dataclass(frozen=True)
class LineageSample:
    """One offspring with its parents, for the reusability index.

    Attributes:
        child: the offspring's step signatures.
        child_fitness: the offspring's score.
        parents: (step signatures, score) of each parent.
    """

    child: frozenset[str]
    child_fitness: float
    parents: tuple[tuple[frozenset[str], float], ...]


def reusability_index(samples: Sequence[LineageSample]) -> float:
    """Share of inherited fragments that ended up in offspring fitter than their best parent."""
    inherited_total = 0
    inherited_fitter = 0
    for s in samples:
        if not s.parents:
            continue
        from_parents = frozenset().union(*(sigs for sigs, _ in s.parents))
        inherited = len(s.child & from_parents)
        inherited_total += inherited
        if s.child_fitness > max(f for _, f in s.parents):
            inherited_fitter += inherited
    return inherited_fitter / inherited_total if inherited_total else 0.0


def self_improvement_velocity(
    best: Sequence[float], generations: Sequence[float] | None = None
) -> float:
    """Least-squares slope of ``best`` against ``generations`` (default 0, 1, 2, ...).

    Returns 0.0 with fewer than two points or when all generations are equal.

    Raises:
        FitnessInputError: the sequences differ in length (a ``ValueError``).
    """
    xs = list(generations) if generations is not None else [float(i) for i in range(len(best))]
    if len(xs) != len(best):
        raise FitnessInputError("best and generations must have the same length")
    n = len(best)
    if n < 2:
        return 0.0
    mx = sum(xs) / n
    my = sum(best) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, best, strict=True)) / sxx


class GenerationMetrics(BaseModel):
    """The meta-metrics of one generation (JSON, for the dashboard and history)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    generation: int
    genomes: int
    elapsed_s: float
    generation_rate: float
    innovation_share: float
    innovation_distance: float
    reusability_index: float
    self_improvement_velocity: float


def generation_metrics(
    *,
    generation: int,
    genomes: Sequence[Mapping[str, Any]],
    elapsed_s: float,
    archive: Sequence[Mapping[str, Any]],
    lineage: Sequence[LineageSample],
    best_history: Sequence[float],
) -> GenerationMetrics:
    """All meta-metrics of one generation.

    Args:
        generation: the generation number.
        genomes: pipeline data of the genomes produced in this generation.
        elapsed_s: wall time of the generation.
        archive: pipeline data of every genome before this generation.
        lineage: offspring/parents samples of this generation.
        best_history: best fitness of generations 0..``generation``.
    """
    keys = {structure_key(a) for a in archive}
    return GenerationMetrics(
        generation=generation,
        genomes=len(genomes),
        elapsed_s=elapsed_s,
        generation_rate=generation_rate(len(genomes), elapsed_s),
        innovation_share=innovation_share(genomes, keys),
        innovation_distance=innovation_distance(genomes, [signatures(a) for a in archive]),
        reusability_index=reusability_index(lineage),
        self_improvement_velocity=self_improvement_velocity(best_history),
    )
