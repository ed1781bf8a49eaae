"""The fleet's evaluation cache: an evaluation made by one campaign, reused by all.

:class:`RedisEvaluationCache` implements
:class:`evofarm.campaign.evaluation_cache.EvaluationCache` like the response
cache stores answers (one expiring string per entry, an index evicting the
oldest beyond a cap, :data:`~evofarm.fleet.scripts.CACHE_PUT`), except that the
first evaluation stored under a key stays: two campaigns racing on one genome
keep one result. Which evaluations are shared, and under which key, is
:mod:`evofarm.campaign.evaluation_cache`'s decision. Thread- and process-safe.
"""

from __future__ import annotations

import json

import redis

from evofarm import keys
from evofarm.errors import StoreError
from evofarm.fleet import scripts
from evofarm.store.base import JSONDoc


class RedisEvaluationCache:
    """A :class:`~evofarm.campaign.evaluation_cache.EvaluationCache` in Redis.

    Args:
        client: A redis-py client (``decode_responses=True``).
        ttl_s: Seconds an entry lives after it is stored.
        max_entries: Most entries kept (oldest evicted first).

    Raises:
        StoreError: ``get``/``put`` when Redis fails.
    """

    def __init__(self, client: redis.Redis, *, ttl_s: float, max_entries: int) -> None:
        self._r = client
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self.max_entries = max(1, max_entries)
        self._put = client.register_script(scripts.CACHE_PUT)

    def get(self, key: str) -> JSONDoc | None:
        """The evaluation under ``key``; None if missing, expired or not a JSON object."""
        try:
            raw = self._r.get(keys.evaluation_cache_entry(key))
        except redis.RedisError as exc:
            raise StoreError(f"redis: evaluation cache get failed: {exc}") from exc
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def put(self, key: str, doc: JSONDoc) -> None:
        """Store ``doc`` unless an evaluation is already stored under ``key``."""
        value = json.dumps(doc, separators=(",", ":"))
        try:
            self._put(
                keys=[keys.evaluation_cache_index(), keys.evaluation_cache_entry(key)],
                args=[self.ttl_ms, self.max_entries, value, 1],
            )
        except redis.RedisError as exc:
            raise StoreError(f"redis: evaluation cache put failed: {exc}") from exc
