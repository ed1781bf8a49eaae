"""Rate limiting of LLM calls: a small protocol, a token bucket, a wrapper.

:class:`RateLimiter` is deliberately small (a blocking ``acquire`` before a
call, ``settle`` of the output tokens after it, ``pause`` after a 429) so the
farm implements a fleet-wide limiter on Redis behind the same interface
(``evofarm.fleet.ratelimit.RedisRateLimiter``); this package never imports it.
:class:`TokenBucketLimiter` limits one process: requests per second and tokens
per second, each with a burst. It reserves before waiting (the balance may go
negative), so each caller computes its own wait once under the lock and then
sleeps without holding it: no busy polling, and callers are served in the order
they arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.providers.base import LLMRequest, LLMResponse, Provider
from evofarm.providers.mock import request_input_tokens


@runtime_checkable
class RateLimiter(Protocol):
    """Grants permission for LLM requests. Implementations must be thread-safe.

    * ``acquire(tokens, model=)`` blocks until one request of about ``tokens``
      input tokens to ``model`` may start and returns the seconds it waited;
      it raises :class:`ProviderUnavailable` rather than wait past its bound
      (a clear infrastructure retry: the caller holds a sandbox slot).
    * ``settle(output_tokens, model=)`` charges the output tokens the call used.
    * ``pause(seconds)`` stops every grant for ``seconds`` (a 429's
      ``retry-after``) and returns how long the pause now lasts.
    """

    def acquire(self, tokens: int = 0, *, model: str | None = None) -> float: ...

    def settle(self, output_tokens: int, *, model: str | None = None) -> None: ...

    def pause(self, seconds: float) -> float: ...


class _Bucket:
    """A refilling balance. Not locked: the limiter holds its lock."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.level = burst
        self.stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is covered (0 if it already is)."""
        deficit = amount - self.level
        return deficit / self.rate if deficit > 0 else 0.0


class TokenBucketLimiter:
    """An in-process :class:`RateLimiter`. Thread-safe.

    Args:
        requests_per_s: Sustained request rate (None: unlimited).
        tokens_per_s: Sustained token rate (None: unlimited).
        burst_requests: Requests allowed at once (default: one second's worth, >= 1).
        burst_tokens: Tokens allowed at once (default: one second's worth).
        max_wait_s: A grant that would wait longer raises ProviderUnavailable.
        clock: Monotonic time source (tests inject a fake).
        sleep: How to wait (tests inject a fake).
    """

    def __init__(
        self,
        requests_per_s: float | None = None,
        tokens_per_s: float | None = None,
        *,
        burst_requests: float | None = None,
        burst_tokens: float | None = None,
        max_wait_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for label, value in (("requests_per_s", requests_per_s), ("tokens_per_s", tokens_per_s)):
            if value is not None and value <= 0:
                raise ProviderConfigError(f"rate limit {label} must be > 0, got {value}")
        self._clock = clock
        self._sleep = sleep
        self.max_wait_s = max_wait_s
        now = clock()
        self._requests = (
            _Bucket(requests_per_s, max(1.0, burst_requests or requests_per_s), now)
            if requests_per_s
            else None
        )
        self._tokens = (
            _Bucket(tokens_per_s, burst_tokens or tokens_per_s, now) if tokens_per_s else None
        )
        self._lock = threading.Lock()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> float:
        """Grant nothing for ``seconds``; the seconds the pause now lasts."""
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + max(0.0, seconds))
            return self._paused_until - now

    def settle(self, output_tokens: int, *, model: str | None = None) -> None:
        """Nothing: this limiter charges input tokens only."""
        del output_tokens, model

    def acquire(self, tokens: int = 0, *, model: str | None = None) -> float:
        """Block until a request of ``tokens`` tokens may start; the seconds waited.

        Raises:
            ProviderUnavailable: the wait would exceed ``max_wait_s``.
        """
        del model  # one bucket for every model of the provider
        with self._lock:
            now = self._clock()
            needs = [(b, a) for b, a in ((self._requests, 1.0), (self._tokens, float(tokens))) if b]
            wait = max(0.0, self._paused_until - now)
            for bucket, amount in needs:
                bucket.refill(now)
                wait = max(wait, bucket.wait_for(amount))
            if wait > self.max_wait_s:
                raise ProviderUnavailable(
                    f"rate limit: a request of {tokens} tokens would wait {wait:.1f}s "
                    f"(more than {self.max_wait_s:.1f}s)"
                )
            for bucket, amount in needs:
                # Taken at send time, from a level that cannot pass the burst while
                # the call waits (calls asking during a pause leave it spaced).
                bucket.level = min(bucket.level, bucket.burst - wait * bucket.rate) - amount
        if wait > 0:
            self._sleep(wait)
        return wait


class RateLimitedProvider:
    """Asks ``limiter`` before each call to ``inner``. Thread-safe if both are.

    Args:
        inner: The provider to protect.
        limiter: Grants calls.
        estimate_tokens: Tokens a request is charged up front; by default its
            estimated input tokens (the usual binding limit).
        resolve_model: Alias -> concrete model id, so per-model limits apply.

    The time spent waiting for the limiter is added to the response's latency.
    A provider with an ``on_rate_limited`` hook (anthropic) reports its 429s
    and 529s to ``limiter.pause``, so one worker's retry-after pauses the fleet.
    """

    def __init__(
        self,
        inner: Provider,
        limiter: RateLimiter,
        *,
        estimate_tokens: Callable[[LLMRequest], int] = request_input_tokens,
        resolve_model: Callable[[str], str] = lambda m: m,
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self.name = inner.name
        self._estimate = estimate_tokens
        self._resolve = resolve_model
        self.deterministic = bool(getattr(inner, "deterministic", False))
        if hasattr(inner, "on_rate_limited"):
            inner.on_rate_limited = self._rate_limited

    def _rate_limited(self, retry_after_s: float) -> float:
        """A 429/529 from the provider: pause the limiter, then wait for a turn."""
        self.limiter.pause(retry_after_s)
        return self.limiter.acquire(0)

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Wait for the limiter, then call ``inner``.

        Raises:
            ProviderUnavailable: the limiter would not grant in time.
            ProviderError: whatever ``inner`` raises.
        """
        model = self._resolve(request.model)
        waited = self.limiter.acquire(self._estimate(request), model=model)
        response = self.inner.complete(request)
        self.limiter.settle(response.usage.output_tokens, model=model)
        if waited <= 0:
            return response
        return response.model_copy(update={"latency_s": response.latency_s + waited})
