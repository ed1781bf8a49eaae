"""Waiting for a generation's completions: block on the event list, never poll.

Workers push one event per breed result and per stored evaluation onto the
campaign's event list (:data:`~evofarm.campaign.lifecycle.EVENTS`); stop, kill
and cancel push wake-ups there too. The waiter blocks on it (BLPOP) for at most
``wait_s`` at a time. A quiet spell is when the lease is renewed, the campaign's
status rechecked and the store reconciled (results whose events this
scheduler never saw); a long one re-sends whatever is still missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from evofarm.campaign import lifecycle
from evofarm.campaign.lifecycle import Status
from evofarm.campaign.scheduler.inflight import Pending, WorkTracker
from evofarm.campaign.scheduler.lease import Lease
from evofarm.campaign.scheduler.recovery import LeaseLost
from evofarm.campaign.worker import work
from evofarm.errors import FarmError

log = logging.getLogger(__name__)

#: Wake-up events: the campaign's status may have changed.
WAKE_UPS = frozenset({"kill", "cancel", "stop"})


class Ended(FarmError):
    """The campaign ended (killed, failed, interrupted) mid-generation.

    Internal control flow of the scheduler: :meth:`Scheduler.run` catches it and
    records the ending; it never reaches a caller.

    Attributes:
        status: the ending to record.
        reason: why.
    """

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Waiter:
    """Waits until a :class:`Pending` is done, keeping the scheduler's lease alive.

    Args:
        tracker: the campaign's work in flight.
        lease: the scheduler's lease (renewed while waiting).
        check_alive: raises :class:`Ended` if the campaign ended or was cancelled.
        wait_s: longest single block on the event list.
        stall_s: with no progress for this long, pending work is sent again; None: never.
        on_quiet: housekeeping run whenever no event came for ``wait_s`` (it
            throttles itself), e.g. the ledger reap.
    """

    def __init__(
        self,
        tracker: WorkTracker,
        lease: Lease,
        check_alive: Callable[[], None],
        wait_s: float,
        stall_s: float | None,
        *,
        on_quiet: Callable[[], object] | None = None,
    ) -> None:
        self.tracker = tracker
        self.lease = lease
        self.check_alive = check_alive
        self.wait_s = wait_s
        self.stall_s = stall_s
        self.on_quiet = on_quiet

    def renew_lease(self) -> None:
        """Renew the lease.

        Raises:
            LeaseLost: another scheduler took the lease (it drives the campaign now).
        """
        if not self.lease.renew():
            raise LeaseLost("lost the scheduler lease to another scheduler")

    def wait(self, pending: Pending, generation: int, pipelined: bool) -> None:
        """Block until nothing is pending.

        Args:
            pending: what to wait for; settled in place.
            generation: the generation waited on (events of others are ignored).
            pipelined: send each new child for evaluation as its breed result arrives.

        Raises:
            Ended: a task failed for good, the campaign was killed, ended
                elsewhere or cancelled.
            LeaseLost: another scheduler took the campaign over.
            StoreError: the store failed.
        """
        tracker = self.tracker
        campaign = tracker.campaign_id
        tracker.reconcile(pending, generation, pipelined)
        tracker.last_progress = tracker.clock()
        while not pending.done():
            if self.lease.due():
                self.renew_lease()
            event = tracker.store.wait_event(campaign, lifecycle.EVENTS, self.wait_s)
            if event is None:
                self._on_quiet(pending, generation, pipelined)
                continue
            kind = event.get("type")
            if kind == work.BREED and event.get("generation") == generation:
                tracker.on_breed_event(pending, event, generation, pipelined)
            elif kind == work.EVALUATED:
                tracker.on_evaluated_event(pending, event)
            elif kind == work.TASK_FAILED:
                raise Ended(Status.FAILED, f"{event.get('task')}: {event.get('error')}")
            elif kind in WAKE_UPS:
                self.check_alive()
        tracker.generation_done()

    def _on_quiet(self, pending: Pending, generation: int, pipelined: bool) -> None:
        """No event for ``wait_s``: renew the lease, honour kill/cancel, recheck the store."""
        self.renew_lease()
        self.check_alive()
        if self.on_quiet is not None:
            self.on_quiet()
        tracker = self.tracker
        tracker.reconcile(pending, generation, pipelined)
        quiet_s = tracker.clock() - tracker.last_progress
        if self.stall_s is not None and quiet_s > self.stall_s and not pending.done():
            log.warning(
                "campaign %s: no progress for %.0fs, resending", tracker.campaign_id, self.stall_s
            )
            tracker.resend(pending)
