"""The scheduler service: takes submitted campaigns and adopts orphaned ones.

``evofarm scheduler`` runs one :class:`SchedulerService` per process on the farm.
Every ``poll_s`` it lists the store's campaigns and, for each active one it is
not driving already, tries to take its lease without waiting: a ``submitted``
campaign nobody runs yet, or a ``running`` one whose scheduler died (its lease
expired). Each campaign it gets is driven by a :class:`Scheduler` on a thread of
its own. Several services may run for availability: the lease keeps exactly one
scheduler per campaign, the others simply fail to take it.

On shutdown the service steps back from every campaign (lease released, status
left ``running``) so a surviving service adopts them at once.

This is the service machinery only; the generation loop is the driver's, so a
steady-state driver can be slotted in beside it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from evofarm.campaign.lifecycle import ACTIVE
from evofarm.campaign.scheduler.dispatcher import Dispatcher
from evofarm.campaign.scheduler.driver import Outcome, Scheduler, SchedulerOptions
from evofarm.campaign.scheduler.reaping import Reaper
from evofarm.errors import CampaignStateError, FarmError, StoreUnreachable
from evofarm.store.base import PopulationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceOptions:
    """How the service looks for work.

    Attributes:
        poll_s: seconds between looks at the store's campaigns.
        max_campaigns: most campaigns this service drives at once.
        join_s: how long shutdown waits for each driver to hand back.
    """

    poll_s: float = 1.0
    max_campaigns: int = 16
    join_s: float = 15.0


class SchedulerService:
    """Drives every campaign it can take. :meth:`run` from one thread; :meth:`stop` from any.

    Args:
        store: the shared store (thread-safe: drivers share it).
        dispatcher: sends the work (thread-safe).
        scheduler_options: each driver's timings; the lease wait is forced to 0
            (the service never queues behind another scheduler).
        options: polling.
        on_outcome: called with each campaign's outcome when its driver ends.
        reaper: each driver's ledger reaper (see :class:`Scheduler`).
    """

    def __init__(
        self,
        store: PopulationStore,
        dispatcher: Dispatcher,
        *,
        scheduler_options: SchedulerOptions | None = None,
        options: ServiceOptions | None = None,
        on_outcome: Callable[[str, Outcome], None] | None = None,
        reaper: Reaper | None = None,
    ) -> None:
        self.store = store
        self.reaper = reaper
        self.dispatcher = dispatcher
        base = scheduler_options or SchedulerOptions()
        self.scheduler_options = replace(base, lease_wait_s=0.0)
        self.options = options or ServiceOptions()
        self.on_outcome = on_outcome
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._driving: dict[str, tuple[Scheduler, threading.Thread]] = {}
        #: Campaigns this service has driven to an outcome, in order (for tests).
        self.outcomes: list[tuple[str, Outcome]] = []

    def driving(self) -> list[str]:
        """Ids of the campaigns this service drives now."""
        with self._lock:
            return sorted(c for c, (_, t) in self._driving.items() if t.is_alive())

    def poll_once(self) -> list[str]:
        """Take every active campaign it can; return the ids taken now.

        Raises:
            StoreUnreachable: the store could not be listed (the caller retries).
        """
        taken = []
        for record in self.store.list_campaigns():
            if self._stop.is_set():
                break
            if record.status not in ACTIVE or record.id in self.driving():
                continue
            if len(self.driving()) >= self.options.max_campaigns:
                break
            if self._take(record.id):
                taken.append(record.id)
        return taken

    def _take(self, campaign: str) -> bool:
        scheduler = Scheduler(
            self.store,
            self.dispatcher,
            campaign,
            options=self.scheduler_options,
            reaper=self.reaper,
        )
        try:
            scheduler.lease.take(0.0)
        except CampaignStateError:
            return False  # another scheduler drives it
        thread = threading.Thread(
            target=self._drive, args=(campaign, scheduler), name=f"scheduler-{campaign}"
        )
        with self._lock:
            self._driving[campaign] = (scheduler, thread)
        log.info("campaign %s: taken by %s", campaign, scheduler.owner)
        thread.start()
        return True

    def _drive(self, campaign: str, scheduler: Scheduler) -> None:
        try:
            outcome = scheduler.run()
        except FarmError as exc:
            # The campaign stays as it is (an outage outlasting outage_s, an
            # inconsistency): another poll, here or elsewhere, adopts it later.
            log.error("campaign %s: scheduler ended: %s", campaign, exc)
            scheduler.lease.release()
            return
        except Exception:
            log.exception("campaign %s: scheduler crashed", campaign)
            scheduler.lease.release()
            return
        log.info("campaign %s: %s (%s)", campaign, outcome.status, outcome.reason)
        with self._lock:
            self.outcomes.append((campaign, outcome))
        if self.on_outcome is not None:
            self.on_outcome(campaign, outcome)

    def run(self) -> None:
        """Poll and drive until :meth:`stop`; then hand every campaign back."""
        try:
            while not self._stop.is_set():
                try:
                    self.poll_once()
                except StoreUnreachable as exc:
                    log.warning("store unreachable (%s); retrying", exc)
                self._stop.wait(self.options.poll_s)
        finally:
            self._hand_back()

    def stop(self) -> None:
        """Ask :meth:`run` to return (after handing its campaigns back)."""
        self._stop.set()

    def _hand_back(self) -> None:
        with self._lock:
            driving = list(self._driving.values())
        for scheduler, _ in driving:
            scheduler.step_back()
        for _, thread in driving:
            with contextlib.suppress(RuntimeError):
                thread.join(self.options.join_s)
