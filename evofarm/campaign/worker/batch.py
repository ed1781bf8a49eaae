"""One breed task for many children: the non-LLM children of a generation, in batches.

Sending each child as its own task costs a publish, a dozen store round trips
and a worker's task overhead per child; making them all in the scheduler costs
the scheduler's CPU (operators that synthesise transform steps run them on the
examples), which caps how many workers one scheduler feeds. A batch task is
between the two: the scheduler publishes one task per ``batch`` children, a
worker makes them with :class:`~evofarm.campaign.scheduler.breeding.LocalBreeder`
(one read of the parents, the material built once) and signals each child as
it is stored, exactly as :func:`~evofarm.campaign.worker.work.breed` does, so
the scheduler settles them the same way and the result is the same child.

Idempotent like every task: children are stored under their content hash and
results once per slot; a redelivered batch only signals again.
"""

from __future__ import annotations

from pydantic import ValidationError

from evofarm.campaign.bundle import CampaignCache
from evofarm.campaign.lifecycle import ENDED, EVENTS
from evofarm.campaign.scheduler.breeding import LocalBreeder
from evofarm.campaign.worker.work import BREED
from evofarm.errors import StoreError
from evofarm.evolution.engine import BreedTask
from evofarm.store.base import JSONDoc, PopulationStore


def breed_batch(store: PopulationStore, cache: CampaignCache, task_docs: list[JSONDoc]) -> int:
    """Make, store, record and signal the children of one campaign's breed tasks.

    Returns:
        How many children were made (0 when the campaign has ended).

    Raises:
        StoreError: a malformed task, tasks of several campaigns, the store
            failed or lacks a parent (infrastructure: retried).
    """
    try:
        tasks = [BreedTask.model_validate(doc) for doc in task_docs]
    except ValidationError as exc:
        raise StoreError(f"malformed breed task: {exc}") from exc
    campaigns = {t.campaign for t in tasks}
    if len(campaigns) != 1:
        raise StoreError(f"a breed batch must hold one campaign's tasks, got {len(campaigns)}")
    campaign_id = campaigns.pop()
    status = store.get_status(campaign_id)
    if status is None or status in ENDED:
        return 0
    breeder = LocalBreeder(store, cache.get(store, campaign_id))
    try:
        made = breeder.breed_each(tasks)
        for task, (result, child) in zip(tasks, made, strict=True):
            store.push_event(
                campaign_id,
                EVENTS,
                {
                    "type": BREED,
                    "generation": task.generation,
                    "slot": task.slot,
                    "result": result.model_dump(mode="json"),
                    "child": child.model_dump(mode="json") if child is not None else None,
                },
            )
    except ValueError as exc:  # an LLM task: the scheduler never batches those
        raise StoreError(str(exc)) from exc
    return breeder.made
