"""Riding out store and broker outages: back off, reconnect, rebuild from the store.

A scheduler holds nothing the store does not, so recovering from an outage is
rebuilding: wait (with exponential backoff) until the store answers again,
check the lease is still this scheduler's, then drive the campaign from its
last checkpoint as a restarted scheduler would (re-plan, reuse what is stored,
re-send what is missing). Only :class:`~evofarm.errors.StoreUnreachable` (a
connection failure) is ridden out; any other ``StoreError`` is an inconsistency
and ends the run.

This is the service machinery around a driver, kept apart from the generation
loop (:mod:`~evofarm.campaign.scheduler.driver`) so another loop (steady state)
can reuse it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from evofarm.errors import FarmError, StoreUnreachable

log = logging.getLogger(__name__)


class LeaseLost(FarmError):
    """Another scheduler holds the campaign's lease now: this one steps back.

    The campaign's status is left alone (its new scheduler drives it).
    """


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between reconnection attempts.

    Attributes:
        first_s: the first delay.
        max_s: the longest delay.
        factor: growth per attempt.
    """

    first_s: float = 0.2
    max_s: float = 5.0
    factor: float = 2.0

    def delays(self) -> Iterator[float]:
        """The delays, growing to ``max_s`` and staying there (endless)."""
        delay = self.first_s
        while True:
            yield delay
            delay = min(self.max_s, delay * self.factor)


def wait_until_reachable(
    probe: Callable[[], object],
    *,
    outage_s: float | None,
    backoff: Backoff,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    first_error: StoreUnreachable | None = None,
) -> None:
    """Call ``probe`` with backoff until it stops raising :class:`StoreUnreachable`.

    Args:
        probe: a cheap store (or broker) call.
        outage_s: give up after this long; None: never.
        backoff: the delays between attempts.
        clock: monotonic seconds.
        sleep: how to wait (tests pass a fake).
        first_error: the failure that started the outage (re-raised on giving up
            if no probe ran).

    Raises:
        StoreUnreachable: still unreachable after ``outage_s``.
    """
    started = clock()
    last = first_error
    for delay in backoff.delays():
        if outage_s is not None and clock() - started + delay > outage_s:
            break
        sleep(delay)
        try:
            probe()
        except StoreUnreachable as exc:
            last = exc
            log.info("store still unreachable: %s", exc)
            continue
        return
    raise StoreUnreachable(
        f"store unreachable for over {outage_s:g}s; giving up ({last})"
        if outage_s is not None
        else f"store unreachable ({last})"
    )
