"""The fleet-wide rate limiter: one atomic token bucket per provider and model in Redis.

:class:`RedisRateLimiter` implements :class:`evofarm.providers.ratelimit.RateLimiter`
for one provider across every worker process and machine sharing the Redis.
Each grant is one Lua script (:data:`evofarm.fleet.scripts.ACQUIRE`) over every
bucket that applies (the provider's and the model's,
:func:`evofarm.providers.rate_limits.buckets_for`), with Redis's own clock, so
no two workers can both take the last token and clocks of machines do not
matter. The script books the request before the caller waits (levels may go
negative), so calls are served in the order they asked; a grant that would
wait longer than ``max_wait_s`` is not booked and raises
:class:`~evofarm.errors.ProviderUnavailable` (the task is retried later
instead of holding a sandbox slot).

Request buckets have a burst of one request (calls are spaced evenly, which is
what a provider's per-second enforcement wants); token buckets hold one
second's worth. Buckets run ``margin`` below the configured limits: calls
reach the provider at uneven delays after their turn (thread wake-ups, a busy
machine, connection set-up), and a provider counting a sliding window rejects
every call that lands early; pacing at exactly the limit gave 8 % 429s with 2
and 4 workers (``benchmarks/fleet_ratelimit.py``), 10 % below it none.
Output tokens are charged after the call (:meth:`settle`).
A 429/529 calls :meth:`pause`: a key with the retry-after as its TTL, which
every grant honours, so the fleet waits once instead of each worker retrying.

Thread- and process-safe.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import redis

from evofarm import keys
from evofarm.errors import ProviderConfigError, ProviderUnavailable, StoreError
from evofarm.fleet import scripts
from evofarm.providers.rate_limits import RateLimit, RateLimits, buckets_for

#: Buckets idle this long expire (they would be full again anyway).
BUCKET_TTL_MS = 10 * 60 * 1000


#: Default share of each limit held back for arrival jitter (see the module docs).
DEFAULT_MARGIN = 0.1


def _bucket_args(limit: RateLimit, pace: float) -> tuple[list[float], list[float]]:
    """(rates per ms, bursts) of the request, input and output dimensions at
    ``pace`` (a share of the limit)."""
    per_s = [r * pace for r in limit.per_second()]
    rates = [r / 1000.0 for r in per_s]
    bursts = [1.0 if per_s[0] else 0.0, per_s[1], per_s[2]]
    return rates, bursts


class RedisRateLimiter:
    """A :class:`~evofarm.providers.ratelimit.RateLimiter` shared by the fleet.

    Args:
        client: A redis-py client.
        provider: The provider whose calls this limiter paces.
        limits: The effective limits (the farm's, lowered by the campaign's).
        max_wait_s: Longest wait granted; beyond it ProviderUnavailable.
        retry_after_cap_s: Longest pause a retry-after may cause.
        margin: Share of each limit held back for arrival jitter, in [0, 1).
        sleep: How to wait (tests inject a fake).
    """

    def __init__(
        self,
        client: redis.Redis,
        provider: str,
        limits: RateLimits,
        *,
        max_wait_s: float = 60.0,
        retry_after_cap_s: float = 60.0,
        margin: float = DEFAULT_MARGIN,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 <= margin < 1:
            raise ProviderConfigError(f"rate limit margin must be in [0, 1), not {margin}")
        self.pace = 1.0 - margin
        self.provider = provider
        self.limits = limits
        self.max_wait_s = max_wait_s
        self.retry_after_cap_s = retry_after_cap_s
        self._sleep = sleep
        self._acquire = client.register_script(scripts.ACQUIRE)
        self._settle = client.register_script(scripts.SETTLE)
        self._pause = client.register_script(scripts.PAUSE)
        self._pause_key = keys.rate_pause(provider)

    def _buckets(self, model: str | None) -> list[tuple[str, RateLimit]]:
        found = buckets_for(self.limits, self.provider, model or "")
        return [
            (
                keys.rate_bucket(
                    self.provider, None if scope == self.provider else scope.split("/", 1)[1]
                ),
                limit,
            )
            for scope, limit in found
        ]

    def _run(self, script: Any, what: str, **kw: Any) -> Any:
        try:
            return script(**kw)
        except redis.RedisError as exc:
            raise StoreError(f"redis: fleet rate limiter: {what} failed: {exc}") from exc

    def acquire(self, tokens: int = 0, *, model: str | None = None) -> float:
        """Book one request of ``tokens`` input tokens, wait its turn; the seconds waited.

        Raises:
            ProviderUnavailable: the turn is more than ``max_wait_s`` away.
            StoreError: Redis failed.
        """
        buckets = self._buckets(model)
        argv: list[float] = [self.max_wait_s * 1000.0, float(BUCKET_TTL_MS)]
        for _, limit in buckets:
            rates, bursts = _bucket_args(limit, self.pace)
            argv += [*rates, *bursts, 1.0, float(tokens), 0.0]
        granted, wait_ms = self._run(
            self._acquire, "acquire", keys=[self._pause_key, *(k for k, _ in buckets)], args=argv
        )
        wait = int(wait_ms) / 1000.0
        if not int(granted):
            raise ProviderUnavailable(
                f"{self.provider}: fleet rate limit: the next turn is {wait:.1f}s away "
                f"(more than {self.max_wait_s:g}s); the task is retried later"
            )
        if wait > 0:
            self._sleep(wait)
        return wait

    def settle(self, output_tokens: int, *, model: str | None = None) -> None:
        """Charge the output tokens a call used to the buckets limiting them.

        Raises:
            StoreError: Redis failed.
        """
        buckets = [(k, lim) for k, lim in self._buckets(model) if lim.output_tokens_per_minute]
        if not buckets or output_tokens <= 0:
            return
        argv: list[float] = []
        for _, limit in buckets:
            argv += [_bucket_args(limit, self.pace)[1][2], float(output_tokens)]
        self._run(self._settle, "settle", keys=[k for k, _ in buckets], args=argv)

    def pause(self, seconds: float) -> float:
        """Pause the provider for the fleet (at most ``retry_after_cap_s``); the
        seconds the pause now lasts (another worker's may be longer).

        Raises:
            StoreError: Redis failed.
        """
        ms = math.ceil(min(max(seconds, 0.0), self.retry_after_cap_s) * 1000)
        left = self._run(self._pause, "pause", keys=[self._pause_key], args=[ms])
        return int(left) / 1000.0
