"""The agent loop's fitness history: one JSONL row per judgement, and its trend.

Row keys: ``ts, pipeline, step, fitness, tokens, time_ms, tests_passed,
tests_total, action, kept``. ``action`` is ``judge`` for the judgement of the
file as it is, else the strategy (band) the candidate was proposed with;
``kept`` says whether the judged version is the file afterwards. Appends are
one ``write`` of one line per row in append mode, so concurrent ``evolve`` runs
on one file interleave whole rows. Rows that do not parse are skipped when
reading (a file can be edited by hand).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from evofarm.fitness.records import Evaluation

SPARKS = "▁▂▃▄▅▆▇█"


class EvolveRow(BaseModel):
    """One judgement of one pipeline version."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    ts: float
    pipeline: str
    step: str | None = None
    fitness: float
    tokens: int
    time_ms: float
    tests_passed: int
    tests_total: int
    action: str
    kept: bool

    @classmethod
    def of(
        cls,
        evaluation: Evaluation,
        *,
        ts: float,
        pipeline: str,
        step: str | None,
        action: str,
        kept: bool,
        tokens: int,
    ) -> EvolveRow:
        """The row of ``evaluation``; ``tokens`` is what this judgement (and its proposal) cost."""
        return cls(
            ts=ts,
            pipeline=pipeline,
            step=step,
            fitness=evaluation.score,
            tokens=tokens,
            time_ms=evaluation.time_ms,
            tests_passed=evaluation.tests_passed,
            tests_total=evaluation.tests_total,
            action=action,
            kept=kept,
        )


def append_rows(path: Path, rows: Iterable[EvolveRow]) -> None:
    """Append ``rows`` to the JSONL file at ``path`` (created with its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row.model_dump(mode="json"), separators=(",", ":")) + "\n")


def read_rows(path: Path) -> list[EvolveRow]:
    """Every well-formed row of ``path`` in file order (none when it does not exist)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(EvolveRow.model_validate(json.loads(line)))
        except (ValueError, ValidationError):
            continue
    return rows


def sparkline(values: Sequence[float]) -> str:
    """One block character per value in [0, 1] (values outside are clamped)."""
    top = len(SPARKS) - 1
    return "".join(SPARKS[round(min(1.0, max(0.0, v)) * top)] for v in values)


class Trend(BaseModel):
    """The history of one pipeline: its judgements, best, last (kept) and spend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pipeline: str
    judgements: int
    kept: int
    first: float
    best: float
    last: float
    tokens: int
    spark: str


def trends(rows: Sequence[EvolveRow]) -> list[Trend]:
    """One :class:`Trend` per pipeline (by name, first seen first).

    ``last`` is the fitness of the last *kept* version (what the file holds);
    the sparkline shows every judgement in order.
    """
    by_pipeline: dict[str, list[EvolveRow]] = {}
    for row in rows:
        by_pipeline.setdefault(row.pipeline, []).append(row)
    out = []
    for name, group in by_pipeline.items():
        kept = [r for r in group if r.kept]
        out.append(
            Trend(
                pipeline=name,
                judgements=len(group),
                kept=len(kept),
                first=group[0].fitness,
                best=max(r.fitness for r in group),
                last=(kept or group)[-1].fitness,
                tokens=sum(r.tokens for r in group),
                spark=sparkline([r.fitness for r in group]),
            )
        )
    return out
