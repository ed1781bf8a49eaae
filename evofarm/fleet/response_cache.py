"""The fleet's response cache: provider answers shared by every worker and campaign.

:class:`RedisResponseStore` implements
:class:`evofarm.providers.cache.ResponseStore` on Redis: one string per entry
(JSON of the response, expiring after the TTL) and one sorted set indexing the
entries by when they were stored, so :data:`~evofarm.fleet.scripts.CACHE_PUT`
can evict the oldest beyond the cap atomically. Which requests are cacheable
(temperature 0 by default) is the :class:`~evofarm.providers.cache.CachingProvider`'s
decision; hits are free in the ledger and counted apart.

An entry that does not parse as a response is a miss (and is dropped): the
store is shared infrastructure, but a cached answer is still LLM output.
Thread- and process-safe.
"""

from __future__ import annotations

import logging

import pydantic
import redis

from evofarm import keys
from evofarm.errors import ProviderConfigError, StoreError
from evofarm.fleet import scripts
from evofarm.providers.base import LLMResponse

log = logging.getLogger(__name__)

#: Responses larger than this (JSON bytes) are not stored.
MAX_ENTRY_BYTES = 256 * 1024


class RedisResponseStore:
    """A :class:`~evofarm.providers.cache.ResponseStore` in Redis.

    Args:
        client: A redis-py client (``decode_responses=True``).
        ttl_s: Seconds an entry lives after it is stored (> 0).
        max_entries: Most entries kept; the oldest are evicted first (>= 1).

    Raises:
        ProviderConfigError: a bound is out of range.
        StoreError: ``get``/``put`` when Redis fails.
    """

    def __init__(self, client: redis.Redis, *, ttl_s: float, max_entries: int) -> None:
        if ttl_s <= 0 or max_entries < 1:
            raise ProviderConfigError(
                f"response cache needs ttl_s > 0 and max_entries >= 1, not {ttl_s}, {max_entries}"
            )
        self._r = client
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self.max_entries = max_entries
        self._put = client.register_script(scripts.CACHE_PUT)

    def get(self, key: str) -> LLMResponse | None:
        """The stored response of ``key``, or None (missing, expired, unreadable)."""
        entry = keys.response_cache_entry(key)
        try:
            raw = self._r.get(entry)
        except redis.RedisError as exc:
            raise StoreError(f"redis: response cache get failed: {exc}") from exc
        if raw is None:
            return None
        try:
            return LLMResponse.model_validate_json(raw)
        except pydantic.ValidationError:
            log.warning("response cache: dropping an unreadable entry %s", entry)
            self._r.delete(entry)
            return None

    def put(self, key: str, response: LLMResponse) -> None:
        """Store ``response`` (as not cached) unless it is larger than MAX_ENTRY_BYTES."""
        value = response.model_copy(update={"cached": False}).model_dump_json()
        if len(value.encode()) > MAX_ENTRY_BYTES:
            return
        try:
            self._put(
                keys=[keys.response_cache_index(), keys.response_cache_entry(key)],
                args=[self.ttl_ms, self.max_entries, value, 0],
            )
        except redis.RedisError as exc:
            raise StoreError(f"redis: response cache put failed: {exc}") from exc

    def size(self) -> int:
        """Entries stored now (expired ones leave the index on the next put)."""
        try:
            return int(self._r.zcard(keys.response_cache_index()))
        except redis.RedisError as exc:
            raise StoreError(f"redis: response cache size failed: {exc}") from exc
