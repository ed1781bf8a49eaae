"""What a breed worker does for a ``request:`` campaign's genesis task.

:func:`genesis` runs :func:`~evofarm.campaign.genesis.seed_pipelines` on the
worker's proposer runtime (the one breed tasks give ``llm_mutation``: fleet rate
limiter, fleet ledger, role ``proposer``), stores the valid seed genomes and
records their ids once as the campaign's genesis record
(:data:`~evofarm.campaign.bundle.GENESIS`), which completes the bundle
(:func:`~evofarm.campaign.bundle.completed`). Genesis making no valid pipeline
is recorded too, with its reason: the scheduler fails the campaign with it.

Idempotent: a task that finds the record (a redelivery, or a re-send after a
scheduler restart) calls no provider and only signals the completion again.
"""

from __future__ import annotations

from evofarm.campaign.bundle import GENESIS, CampaignCache, GenesisRecord, genesis_record
from evofarm.campaign.genesis import seed_pipelines
from evofarm.campaign.lifecycle import ENDED, EVENTS
from evofarm.campaign.worker.work import proposer_of
from evofarm.errors import CampaignSpecError, StoreError
from evofarm.evolution.engine import initial_genomes
from evofarm.store.base import JSONDoc, PopulationStore


def genesis(store: PopulationStore, cache: CampaignCache, campaign_id: str) -> JSONDoc:
    """Make, store and record the campaign's seeds (once); signal the completion.

    Returns:
        The genesis record's JSON (``{"skipped": ...}`` for an ended campaign).

    Raises:
        StoreError: the store failed, or the campaign is not a request campaign
            (infrastructure: retried, then reported to the scheduler).
    """
    found = genesis_record(store, campaign_id)
    if found is None:
        status = store.get_status(campaign_id)
        if status is None or status in ENDED:
            return {"skipped": "campaign ended"}
        found = _run(store, cache, campaign_id)
    doc = found.model_dump(mode="json")
    store.push_event(campaign_id, EVENTS, {"type": GENESIS, "record": doc})
    return doc


def _run(store: PopulationStore, cache: CampaignCache, campaign_id: str) -> GenesisRecord:
    """Run genesis and record its outcome; the record stored first wins."""
    campaign = cache.get(store, campaign_id)
    proposer = proposer_of(campaign)
    if not campaign.genesis_pending or proposer is None:
        raise StoreError(f"campaign {campaign_id!r} has no genesis to run")
    try:
        genomes = initial_genomes(seed_pipelines(campaign.spec, campaign.suite, proposer))
    except CampaignSpecError as exc:
        record = GenesisRecord(error=exc.message)
    else:
        for genome in genomes:
            store.put_genome(campaign_id, genome.model_dump(mode="json"))
        record = GenesisRecord(seed_genomes=[g.id for g in genomes])
    if store.put_task_result(campaign_id, 0, GENESIS, 0, record.model_dump(mode="json")):
        return record
    # A concurrent run recorded first: its record is the truth.
    return genesis_record(store, campaign_id) or record
