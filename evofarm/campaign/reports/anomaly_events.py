"""Anomalies of a stored campaign: build the signals, record the findings, read them back.

:func:`check_generation` is the per-generation hook of the farm scheduler: it
reads the generation's figures from the store, runs the pure detector
(:mod:`evofarm.campaign.anomalies`) and stores what it found as that
generation's ``anomalies`` task result (one record per generation, so a
restarted scheduler overwrites rather than repeats). :func:`live` adds what
only shows between generations (a stall, no worker on the queues), computed
when a reader (``status``, ``watch``, the dashboard) asks.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from evofarm.campaign.anomalies import Anomaly, Signals, Thresholds, detect
from evofarm.campaign.lifecycle import ACTIVE
from evofarm.campaign.scheduler.checkpoints import INFO_GENERATION
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.genes import step_gene
from evofarm.store.base import PopulationStore

#: Task-result kind under which a generation's anomalies are stored.
ANOMALIES = "anomalies"


def _operator_counts(state: EvolutionState | None) -> dict[str, tuple[int, int]]:
    if state is None:
        return {}
    return {n: (s.attempts, s.applied + s.repaired) for n, s in state.operator_stats.items()}


def _state(store: PopulationStore, campaign: str, generation: int) -> EvolutionState | None:
    checkpoint = store.load_checkpoint(campaign, generation)
    return None if checkpoint is None else EvolutionState.model_validate(checkpoint.state)


def signals(
    store: PopulationStore,
    campaign: str,
    generation: int,
    *,
    workers_online: int | None = None,
    queued: Mapping[str, int] | None = None,
    now: float | None = None,
) -> Signals:
    """The detector's input after ``generation``, read from the store."""
    by_generation: dict[int, list[dict[str, Any]]] = defaultdict(list)
    history = store.read_history(campaign)
    for row in history:
        by_generation[int(row["generation"])].append(row)
    span = range(generation + 1)
    scores = [[float(r["fitness"]) for r in by_generation.get(g, [])] for g in span]
    tokens = [[int(r["tokens"]) for r in by_generation.get(g, [])] for g in span]
    state = _state(store, campaign, generation)
    before = _state(store, campaign, generation - 1) if generation > 0 else None
    members = [m.id for m in state.population] if state else []
    docs = store.get_genomes(campaign, sorted(set(members)))
    genes = {
        str(d["id"]): [step_gene(s) for s in d["pipeline"].get("steps", [])] for d in docs if d
    }
    times = [float(r["time_ms"]) / 1000 for r in history]
    last = max((float(r["ts"]) for r in history), default=None)
    return Signals(
        generation=generation,
        generation_best=[max(s) if s else None for s in scores],
        median=[statistics.median(s) if s else None for s in scores],
        population=members,
        population_genes=[genes.get(m, []) for m in members],
        operators_before=_operator_counts(before),
        operators_now=_operator_counts(state),
        tokens_per_eval=[statistics.fmean(t) if t else None for t in tokens],
        idle_s=None if last is None or now is None else max(0.0, now - last),
        median_eval_s=statistics.median(times) if times else None,
        workers_online=workers_online,
        queued=dict(queued or {}),
    )


def check_generation(
    store: PopulationStore, campaign: str, generation: int, thresholds: Thresholds | None = None
) -> list[Anomaly]:
    """The scheduler's hook: detect after ``generation`` and store the findings.

    Raises:
        StoreError: the store failed (the caller decides whether that matters).
    """
    found = [
        a
        for a in detect(signals(store, campaign, generation), thresholds)
        if a.kind not in {"stalled", "no_worker"}  # live conditions, see :func:`live`
    ]
    store.put_task_result(
        campaign, generation, ANOMALIES, 0, {"anomalies": [a.to_json() for a in found]}
    )
    return found


def stored(store: PopulationStore, campaign: str) -> list[dict[str, Any]]:
    """Every stored anomaly of the campaign, oldest generation first."""
    last = int(store.get_info(campaign, INFO_GENERATION) or 0)
    found: list[dict[str, Any]] = []
    for generation in range(last + 1):
        record = store.task_results(campaign, generation, ANOMALIES).get(0)
        if record:
            found.extend(record.get("anomalies", []))
    return found


def live(
    store: PopulationStore,
    campaign: str,
    *,
    workers_online: int | None,
    queued: Mapping[str, int],
    now: float | None = None,
    thresholds: Thresholds | None = None,
) -> list[dict[str, Any]]:
    """A running campaign's stall and no-worker anomalies now (empty once it ended)."""
    if store.get_status(campaign) not in ACTIVE:
        return []
    generation = int(store.get_info(campaign, INFO_GENERATION) or 0)
    clock = time.time() if now is None else now
    s = signals(
        store, campaign, generation, workers_online=workers_online, queued=queued, now=clock
    )
    if s.idle_s is None:  # nothing finished yet: idle since submission
        record = store.get_campaign(campaign)
        created = record.created_at if record else clock
        s = Signals(
            generation=generation,
            idle_s=clock - created,
            median_eval_s=0.0,
            workers_online=workers_online,
            queued=dict(queued),
        )
    return [a.to_json() for a in detect(s, thresholds) if a.kind in {"stalled", "no_worker"}]
