"""What a farm campaign's ending settles besides its status: revoked work, orphan evaluations."""

from __future__ import annotations

import time
from collections.abc import Callable

from evofarm.campaign.bundle import Campaign
from evofarm.campaign.reports.outputs import HistoryRow
from evofarm.campaign.scheduler.checkpoints import Checkpointer
from evofarm.fitness.records import Evaluation
from evofarm.store.base import EvalKey, PopulationStore


def wait_revoked(
    store: PopulationStore, campaign_id: str, clock: Callable[[], float], timeout_s: float
) -> None:
    """Wait (at most ``timeout_s``) until a kill has cleared the campaign's in-flight set."""
    deadline = clock() + timeout_s
    while store.inflight(campaign_id) and clock() < deadline:
        time.sleep(0.05)


def history_of_interrupted(
    store: PopulationStore, campaign: Campaign, checkpoints: Checkpointer, generation: int
) -> None:
    """History rows for evaluations stored but never checkpointed (an ending mid-generation).

    Every stored evaluation is counted, so each gets its row (at ``generation``):
    the campaign's evaluation count and its history always agree, however it
    ended. The rows' genomes join ``checkpoints.in_history``.
    """
    missing = sorted(
        key.genome_id
        for key in store.evaluation_keys(campaign.id)
        if (key.suite_id, key.fidelity) == (campaign.suite_id, campaign.fidelity)
        and key.genome_id not in checkpoints.in_history
    )
    if not missing:
        return
    keys = [EvalKey(g, campaign.suite_id, campaign.fidelity) for g in missing]
    docs = store.get_evaluations(campaign.id, keys)
    now = time.time()
    rows = [
        HistoryRow.of(campaign.id, generation, gid, Evaluation.model_validate(doc), now)
        for gid, doc in zip(missing, docs, strict=True)
        if doc is not None
    ]
    store.append_history(campaign.id, [r.model_dump(mode="json") for r in rows])
    checkpoints.in_history.update(r.genome for r in rows)
