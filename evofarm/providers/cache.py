"""A response cache in front of a provider: in-memory LRU, then an optional shared store.

Only deterministic requests are cached: everything when the inner provider says
it is deterministic (``deterministic = True``, as the mock and replay providers
do), otherwise only requests with ``temperature == 0``. Sampling at a positive
temperature is part of what an evaluation measures, so it is never cached.

A hit returns the stored response with ``cached=True``; its usage and cost are
those of the original call, so token-efficiency fitness does not depend on
whether a worker happened to have the answer cached. Budget accounting that
wants to charge only real calls checks ``cached``.

Concurrent misses on the same key make one call (single flight): the others wait
for it and share its answer, which matters when a genome's cases run on threads
and many ask the same thing.

A :class:`ResponseStore` (``shared``) is a second level beyond this process: a
local miss asks it before calling the provider, and a provider answer is put
there. The farm's workers get the fleet's (Redis, shared by every worker and
campaign) from the worker bootstrap; this module knows only the interface.
Keys name the provider, then hash the request (model, messages, parameters).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from evofarm.errors import ProviderConfigError
from evofarm.providers.base import LLMRequest, LLMResponse, Provider


@dataclass(frozen=True)
class CacheStats:
    """Counters of a :class:`CachingProvider`."""

    hits: int
    misses: int
    uncacheable: int
    size: int
    evictions: int
    shared_hits: int = 0

    @property
    def hit_rate(self) -> float:
        """Hits over cacheable lookups (0.0 before any)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


@runtime_checkable
class ResponseStore(Protocol):
    """Responses shared beyond one process, bounded in age and number. Thread-safe.

    Keys are what :class:`CachingProvider` makes (``provider.sha256``). A
    missing, expired or unreadable entry is a miss, never an error.
    """

    def get(self, key: str) -> LLMResponse | None:
        """The stored response of ``key``, or None."""
        ...

    def put(self, key: str, response: LLMResponse) -> None:
        """Store ``response`` under ``key`` (may evict the oldest entries)."""
        ...


class _Flight:
    """One in-progress call that other threads wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: LLMResponse | None = None


class CachingProvider:
    """Wraps ``inner`` with an LRU response cache. Thread-safe.

    Args:
        inner: The provider answering misses.
        max_entries: LRU capacity (>= 1).
        cache_all: Cache every request (None: ``inner.deterministic`` decides).
        shared: A second level shared with other processes (asked on a local miss).

    Errors raised by ``inner`` are not cached; they propagate to the caller that
    made the call, and waiting callers then make their own call.
    """

    def __init__(
        self,
        inner: Provider,
        *,
        max_entries: int = 4096,
        cache_all: bool | None = None,
        shared: ResponseStore | None = None,
    ) -> None:
        if max_entries < 1:
            raise ProviderConfigError(f"cache max_entries must be >= 1, got {max_entries}")
        self.inner = inner
        self.name = inner.name
        self.max_entries = max_entries
        self.cache_all = (
            bool(getattr(inner, "deterministic", False)) if cache_all is None else cache_all
        )
        self.shared = shared
        self._entries: OrderedDict[str, LLMResponse] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()
        self._hits = self._misses = self._uncacheable = self._evictions = 0
        self._shared_hits = 0

    def cacheable(self, request: LLMRequest) -> bool:
        """Whether ``request`` may be answered from the cache."""
        return self.cache_all or request.temperature == 0

    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                uncacheable=self._uncacheable,
                size=len(self._entries),
                evictions=self._evictions,
                shared_hits=self._shared_hits,
            )

    def clear(self) -> None:
        """Drop every entry (counters are kept)."""
        with self._lock:
            self._entries.clear()

    def complete(self, request: LLMRequest) -> LLMResponse:
        """A cached answer for ``request`` or the inner provider's.

        Raises:
            ProviderError: whatever ``inner`` raises on a miss.
        """
        if not self.cacheable(request):
            with self._lock:
                self._uncacheable += 1
            return self.inner.complete(request)
        key = f"{self.name}.{request.cache_key()}"
        with self._lock:
            hit = self._lookup(key)
            if hit is not None:
                return hit
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.response is not None:
                with self._lock:
                    self._hits += 1
                return flight.response.model_copy(update={"cached": True})
            # The leader failed: try ourselves (errors are not cached).
            return self.inner.complete(request)
        try:
            found = self.shared.get(key) if self.shared is not None else None
            if found is not None:
                flight.response = found
                with self._lock:
                    self._hits += 1
                    self._shared_hits += 1
                    self._store(key, found)
                return found.model_copy(update={"cached": True})
            with self._lock:
                self._misses += 1
            response = self.inner.complete(request)
            flight.response = response
            with self._lock:
                self._store(key, response)
            if self.shared is not None:
                self.shared.put(key, response)
            return response
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def _lookup(self, key: str) -> LLMResponse | None:
        """A hit (marked cached) or None. Caller holds the lock."""
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        self._hits += 1
        return found.model_copy(update={"cached": True})

    def _store(self, key: str, response: LLMResponse) -> None:
        """Insert and evict the least recently used. Caller holds the lock."""
        self._entries[key] = response
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self._evictions += 1
