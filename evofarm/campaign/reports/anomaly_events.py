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

import time
from collections.abc import Mapping
from typing import Any

from evofarm.campaign.anomalies import (
    LIVE_KINDS,
    Anomaly,
    HistoryDigest,
    Signals,
    Thresholds,
    detect,
    signals_of,
)
from evofarm.campaign.lifecycle import ACTIVE
from evofarm.campaign.scheduler.checkpoints import INFO_GENERATION
from evofarm.evolution.engine import EvolutionState
from evofarm.store.base import PopulationStore

#: Task-result kind under which a generation's anomalies are stored.
ANOMALIES = "anomalies"


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
    digest: HistoryDigest | None = None,
) -> Signals | None:
    """The detector's input after ``generation``, read from the store (None: no checkpoint).

    Args:
        digest: the history read so far, brought up to date with the rows added
            since (None: the whole history is read).
    """
    state = _state(store, campaign, generation)
    if state is None:
        return None
    if digest is None:
        digest = HistoryDigest()
    digest.extend(store.read_history(campaign, start=digest.rows))
    before = _state(store, campaign, generation - 1) if generation > 0 else None
    members = sorted({m.id for m in state.population})
    docs = store.get_genomes(campaign, members)
    steps = {str(d["id"]): list(d["pipeline"].get("steps", [])) for d in docs if d}
    return signals_of(
        digest,
        state,
        before,
        lambda gid: steps.get(gid, []),
        workers_online=workers_online,
        queued=queued,
        now=now,
    )


def check_generation(
    store: PopulationStore,
    campaign: str,
    generation: int,
    thresholds: Thresholds | None = None,
    *,
    digest: HistoryDigest | None = None,
) -> list[Anomaly]:
    """The scheduler's hook: detect after ``generation`` and store the findings.

    ``digest``: the scheduler's running digest of the history (see :func:`signals`).

    Raises:
        StoreError: the store failed (the caller decides whether that matters).
    """
    found_signals = signals(store, campaign, generation, digest=digest)
    if found_signals is None:
        return []
    # stalls and idle queues are live conditions: see :func:`live`
    found = [a for a in detect(found_signals, thresholds) if a.kind not in LIVE_KINDS]
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
    if s is None or s.idle_s is None:  # nothing finished yet: idle since submission
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
