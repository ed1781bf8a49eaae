"""A campaign's output files, shared by the in-process loop and the farm.

``--out DIR`` holds:

* ``summary.json``: ``{"campaign", "status", "reason", "seed", "generations",
  "evaluations", "best": {"genome", "fitness", "validation", "chosen"}, "tokens",
  "cost_usd", "wall_s", "approval"}``. ``best.fitness`` is the winner's fitness
  on the training cases, ``best.validation`` on the suite's held-out cases
  (None without a split); ``best.chosen`` is the archive genome the winner was
  chosen as, when the winner is its simplified form (else None).
  ``evaluations`` counts every evaluation, the final phase's and
  ``evolution.noise``'s resamples included;
* ``best.yaml``: the best pipeline as canonical pipeline_ex YAML (loadable);
* ``fitness-history.jsonl``: one row per evaluation: ``ts, campaign,
  generation, genome, fitness, tokens, time_ms, tests_passed, tests_total,
  split, cost_usd`` (``split``: ``train`` or ``validation``, which cases it ran
  on; on the farm, tokens and USD are what the worker's relay served);
* ``anomalies.jsonl`` (only when one was found): ``kind, generation, message``
  per anomaly (see :mod:`evofarm.campaign.anomalies`);
* ``generations.jsonl``: one row per generation from generation 0 (the seeds):
  best fitness, evaluations, the meta-metrics and, per operator, ``attempts``
  and ``valid_child_rate`` (the share of attempts that gave a valid child;
  ``success_rate`` is the same figure under its old name).

``tests_passed``/``tests_total`` in the fitness history count *checks* over all
cases (a case with three checks counts three), not cases.

Writers create ``DIR`` if needed. ``summary.json`` and ``best.yaml`` are written
atomically (temp file + rename), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.llm.usage import RoleTotal
from evofarm.fitness.metrics import GenerationMetrics
from evofarm.fitness.records import Evaluation
from evofarm.pipeline.loader import dump_pipeline
from evofarm.pipeline.schema import Pipeline

SUMMARY = "summary.json"
BEST = "best.yaml"
HISTORY = "fitness-history.jsonl"
GENERATIONS = "generations.jsonl"
ANOMALIES = "anomalies.jsonl"

Status = Literal["completed", "stopped", "killed", "failed"]


SplitName = Literal["train", "validation"]


class BestRef(BaseModel):
    """The winner: its genome id, training and validation fitness (see module docs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    genome: str | None
    fitness: float | None
    validation: float | None = None
    chosen: str | None = None


class Summary(BaseModel):
    """``summary.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign: str
    status: Status
    reason: str
    seed: int
    generations: int
    evaluations: int
    best: BestRef
    tokens: int
    cost_usd: float
    wall_s: float
    approval: Literal["pending", "approved", "rejected"]
    #: Cases actually run: every evaluation's, a nursery's partial ones included,
    #: reused case results (and evaluations taken from a cache) not.
    case_runs: int = 0
    # llm: tokens/cost/calls by role (evaluation, proposer, judge; campaign/reports/usage.py),
    # and what the response and evaluation caches answered; absent without LLM calls.
    usage_by_role: dict[str, RoleTotal] = Field(default_factory=dict, exclude_if=lambda d: not d)
    cache_hits: dict[str, int] = Field(default_factory=dict, exclude_if=lambda d: not d)


class HistoryRow(BaseModel):
    """One line of ``fitness-history.jsonl``: one evaluated genome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: float
    campaign: str
    generation: int
    genome: str
    fitness: float
    tokens: int
    time_ms: float
    tests_passed: int
    tests_total: int
    split: SplitName = "train"
    #: USD of the evaluation's LLM calls (absent in rows written before it was kept).
    cost_usd: float = 0.0

    @classmethod
    def of(
        cls,
        campaign: str,
        generation: int,
        genome: str,
        evaluation: Evaluation,
        ts: float,
        *,
        split: SplitName = "train",
    ) -> HistoryRow:
        """The row for ``evaluation`` of ``genome`` on the ``split`` cases."""
        return cls(
            ts=ts,
            campaign=campaign,
            generation=generation,
            genome=genome,
            fitness=evaluation.score,
            tokens=evaluation.tokens,
            time_ms=evaluation.time_ms,
            tests_passed=evaluation.tests_passed,
            tests_total=evaluation.tests_total,
            split=split,
            cost_usd=evaluation.cost_usd,
        )


def generation_row(
    campaign: str, state: EvolutionState, evaluations: int, metrics: GenerationMetrics
) -> dict[str, Any]:
    """The ``generations.jsonl`` row after ``state`` (the loop and the farm write the same)."""
    return {
        "campaign": campaign,
        "generation": state.generation,
        "best": state.best.id if state.best else None,
        "best_fitness": state.best_history[-1] if state.best_history else None,
        "evaluations": evaluations,
        "metrics": metrics.model_dump(mode="json"),
        # report(): attempts, success_rate and the counted discard reasons.
        "operators": {
            name: {**s.report(), "valid_child_rate": round(s.success_rate, 4)}
            for name, s in state.operator_stats.items()
        },
    }


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_summary(out_dir: Path, summary: Summary) -> Path:
    """Write ``summary.json`` atomically; return its path."""
    path = out_dir / SUMMARY
    _atomic_write(path, json.dumps(summary.model_dump(mode="json"), indent=2) + "\n")
    return path


def write_best(out_dir: Path, pipeline: Pipeline) -> Path:
    """Write ``best.yaml`` (canonical pipeline_ex YAML) atomically; return its path."""
    path = out_dir / BEST
    _atomic_write(path, dump_pipeline(pipeline))
    return path


def _append_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=False, separators=(",", ":")) + "\n")


def append_history(out_dir: Path, rows: Iterable[HistoryRow]) -> None:
    """Append rows to ``fitness-history.jsonl``."""
    _append_jsonl(out_dir / HISTORY, (r.model_dump(mode="json") for r in rows))


def append_generation(out_dir: Path, row: Mapping[str, Any]) -> None:
    """Append one generation record to ``generations.jsonl``."""
    _append_jsonl(out_dir / GENERATIONS, [row])


def append_anomalies(out_dir: Path, found: Iterable[Mapping[str, Any]]) -> None:
    """Append anomaly records (``kind, generation, message``) to ``anomalies.jsonl``."""
    _append_jsonl(out_dir / ANOMALIES, found)


def reset(out_dir: Path) -> None:
    """Remove the append-only files of an earlier run in ``out_dir``."""
    for name in (HISTORY, GENERATIONS, ANOMALIES):
        (out_dir / name).unlink(missing_ok=True)
