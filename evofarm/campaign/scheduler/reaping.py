"""The scheduler's share of exact accounting: charging what dead workers left reserved.

A worker killed mid-call leaves its call's worst case booked in the campaign's
budget ledger (the provider may have billed the call). The scheduler, which
outlives workers, charges such reservations once they are older than any live
call can be (its timeout, retries and rate-limit wait: ``reap_after_s``), so
the totals count every call and the budget is not held forever. How is the
farm's business: it injects a :data:`Reaper` (``evofarm.fleet.services.ledger_reaper``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: ``(campaign, older_than_s) -> reservations charged``.
Reaper = Callable[[str, float], int]


class PeriodicReap:
    """Runs a :data:`Reaper` for one campaign at most every ``every_s``. Not thread-safe.

    Raises (from ``__call__``): whatever the reaper raises (StoreError: an outage).
    """

    def __init__(
        self,
        reaper: Reaper | None,
        campaign: str,
        *,
        older_than_s: float,
        every_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.reaper = reaper
        self.campaign = campaign
        self.older_than_s = older_than_s
        self.every_s = every_s
        self.clock = clock
        self._last: float | None = None
        #: Reservations charged so far.
        self.reaped = 0

    def __call__(self, *, force: bool = False) -> int:
        """Reap if due (or ``force``); returns how many reservations were charged now."""
        if self.reaper is None:
            return 0
        now = self.clock()
        if not force and self._last is not None and now - self._last < self.every_s:
            return 0
        self._last = now
        charged = self.reaper(self.campaign, self.older_than_s)
        if charged:
            log.warning(
                "campaign %s: charged %d reservation(s) of dead workers at their worst case",
                self.campaign,
                charged,
            )
        self.reaped += charged
        return charged
