"""The scheduler's genesis phase: a ``request:`` campaign's seeds, made on a worker.

Before generation 0 of a campaign whose bundle says genesis is pending,
:func:`await_genesis` sends ONE genesis task (breed queue) and waits for the
genesis record (:func:`~evofarm.campaign.bundle.genesis_record`) as it waits for
breed results: blocking on the event list, renewing the lease, honouring kill,
stop and cancel, re-sending after a stall. It never calls a provider itself.

Resuming is idempotent: a recorded genesis is never run again; a task the
previous scheduler left in flight is waited for rather than sent again.
"""

from __future__ import annotations

from evofarm.campaign import lifecycle
from evofarm.campaign.bundle import GENESIS, Campaign, GenesisRecord, completed, genesis_record
from evofarm.campaign.lifecycle import Status
from evofarm.campaign.scheduler.inflight import WorkTracker
from evofarm.campaign.scheduler.waiting import WAKE_UPS, Ended, Waiter
from evofarm.campaign.worker import work


def await_genesis(tracker: WorkTracker, waiter: Waiter) -> Campaign:
    """The tracker's campaign completed with its genesis's seeds (run on the farm if needed).

    Raises:
        Ended: genesis made no valid pipeline or its task failed for good
            (``failed``, with the reason), or the campaign was killed, ended
            elsewhere or cancelled.
        LeaseLost: another scheduler took the campaign over.
        StoreError: the store failed.
    """
    store, campaign = tracker.store, tracker.campaign
    record = genesis_record(store, campaign.id)
    if record is None:
        record = _wait(tracker, waiter)
    if record.error is not None:
        raise Ended(Status.FAILED, record.error)
    return completed(store, campaign)


def _wait(tracker: WorkTracker, waiter: Waiter) -> GenesisRecord:
    store, campaign_id = tracker.store, tracker.campaign_id
    if not store.inflight(campaign_id):
        tracker.send_genesis()
    tracker.last_progress = tracker.clock()
    while True:
        if waiter.lease.due():
            waiter.renew_lease()
        event = store.wait_event(campaign_id, lifecycle.EVENTS, waiter.wait_s)
        kind = event.get("type") if event is not None else None
        if kind == work.TASK_FAILED and event is not None:
            raise Ended(Status.FAILED, f"{event.get('task')}: {event.get('error')}")
        if kind in WAKE_UPS:
            waiter.check_alive()
        if event is None or kind == GENESIS:
            record = genesis_record(store, campaign_id)
            if record is not None:
                tracker.generation_done()
                return record
        if event is None:
            _on_quiet(tracker, waiter)


def _on_quiet(tracker: WorkTracker, waiter: Waiter) -> None:
    """No event for a while: renew the lease, honour kill/cancel, re-send after a stall."""
    waiter.renew_lease()
    waiter.check_alive()
    if waiter.on_quiet is not None:
        waiter.on_quiet()
    stall_s = waiter.stall_s
    if stall_s is not None and tracker.clock() - tracker.last_progress > stall_s:
        # A lost message: the task finds the record if the first run got there.
        tracker.send_genesis()
        tracker.last_progress = tracker.clock()
