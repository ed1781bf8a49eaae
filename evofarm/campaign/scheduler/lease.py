"""The scheduler lease: at most one scheduler drives a campaign at a time.

The lease is a store key with a time to live (:meth:`PopulationStore.acquire_lease`).
Its holder renews it well within the TTL; a SIGKILLed scheduler simply stops
renewing, so its campaign can be resumed once the TTL has run out. Every take
and renewal is also noted for readers (:mod:`~evofarm.campaign.scheduler.liveness`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable

from evofarm.campaign.scheduler.liveness import note_alive
from evofarm.errors import CampaignStateError, StoreError
from evofarm.store.base import PopulationStore


class Lease:
    """One scheduler's claim on one campaign.

    Args:
        store: the population store holding the lease key.
        campaign: the campaign id.
        ttl_s: the lease expires this long after the last renewal.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        store: PopulationStore,
        campaign: str,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.campaign = campaign
        self.ttl_s = ttl_s
        self.clock = clock
        #: Who holds the lease (host, pid and a nonce), shown to watchers.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renewed = clock()

    def take(self, wait_s: float) -> None:
        """Acquire the lease, waiting up to ``wait_s`` for another holder's to expire.

        Raises:
            CampaignStateError: another scheduler still holds it after ``wait_s``.
            StoreError: the store failed.
        """
        deadline = self.clock() + wait_s
        while not self.store.acquire_lease(self.campaign, self.owner, self.ttl_s):
            if self.clock() >= deadline:
                raise CampaignStateError(
                    f"campaign {self.campaign!r} is being scheduled elsewhere "
                    f"(its lease expires {self.ttl_s:.0f}s after that scheduler stops)"
                )
            time.sleep(min(0.5, self.ttl_s / 10))
        self._renewed = self.clock()
        note_alive(self.store, self.campaign, self.ttl_s)

    def due(self) -> bool:
        """Whether a third of the TTL has passed since the last renewal."""
        return self.clock() - self._renewed > self.ttl_s / 3

    def renew(self) -> bool:
        """Extend the lease; False if another scheduler has taken it meanwhile."""
        if not self.store.acquire_lease(self.campaign, self.owner, self.ttl_s):
            return False
        self._renewed = self.clock()
        note_alive(self.store, self.campaign, self.ttl_s)
        return True

    def release(self) -> None:
        """Give the lease up (best effort: an unreachable store lets it expire)."""
        with contextlib.suppress(StoreError):
            self.store.release_lease(self.campaign, self.owner)
