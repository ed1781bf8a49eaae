"""A campaign's wall time: counted from submission, kept in the store, budgeted while waiting.

The wall-clock budget (``budgets.max_wall_s``) must run even when nothing
else does: a campaign submitted with no worker consuming its queues waits in
its first generation forever otherwise, with ``wall_s`` stuck at 0. So

* a campaign's first run counts the time it waited for a scheduler since it was
  submitted (the record's ``created_at``); a resumed run continues from the
  stored ``wall_s`` (time no scheduler held it is not counted);
* :meth:`WallClock.tick`, called at every wake-up of the scheduler's waits,
  writes ``wall_s`` to the campaign's info (at most once a :data:`WRITE_EVERY_S`)
  and raises :class:`~evofarm.campaign.scheduler.waiting.Ended` once the budget
  is spent, mid-generation, the same ending the between-generations check gives.

Used from the scheduler's one thread.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from evofarm.campaign import budgets
from evofarm.campaign.lifecycle import Status
from evofarm.campaign.scheduler.checkpoints import INFO_WALL
from evofarm.campaign.scheduler.waiting import Ended
from evofarm.campaign.spec import CampaignBudgets
from evofarm.errors import StoreError
from evofarm.store.base import CampaignRecord, PopulationStore

#: Least time between two writes of ``wall_s`` while waiting.
WRITE_EVERY_S = 1.0


class WallClock:
    """The wall time of one campaign across all its runs (``clock``: monotonic seconds)."""

    def __init__(self, store: PopulationStore, campaign: str, clock: Callable[[], float]) -> None:
        self.store = store
        self.campaign = campaign
        self.clock = clock
        self._before = 0.0
        self._started = clock()
        self._written = self._started
        self._budgets: CampaignBudgets | None = None

    def start(self, record: CampaignRecord, limits: CampaignBudgets) -> None:
        """Begin this run: continue the stored wall time, or count from submission.

        Raises:
            StoreError: writing the starting ``wall_s`` failed.
        """
        self._started = self._written = self.clock()
        stored = record.info.get(INFO_WALL)
        self._before = float(stored) if stored else max(0.0, time.time() - record.created_at)
        self._budgets = limits
        self.store.update_info(self.campaign, {INFO_WALL: repr(self._before)})

    def elapsed(self) -> float:
        """Earlier runs' wall time plus this one's so far."""
        return self._before + (self.clock() - self._started)

    def release(self) -> None:
        """Stop enforcing the budget (the final phase finishes what the budget ended)."""
        self._budgets = None

    def tick(self) -> None:
        """Keep ``wall_s`` current in the store; end the campaign once the budget is spent.

        Raises:
            Ended: ``stopped`` with the wall-time budget's reason.
        """
        now = self.clock()
        if now - self._written >= WRITE_EVERY_S:
            self._written = now
            with contextlib.suppress(StoreError):  # a display figure: the next tick retries
                self.store.update_info(self.campaign, {INFO_WALL: repr(self.elapsed())})
        limits = self._budgets
        if limits is None or limits.max_wall_s is None:
            return
        wall_s = self.elapsed()
        if wall_s >= limits.max_wall_s:
            crossed = budgets.check_wall_time(self.store, self.campaign, limits, wall_s) or "wall_s"
            reason = budgets.describe(self.store, self.campaign, crossed, limits, wall_s)
            raise Ended(Status.STOPPED, reason)
