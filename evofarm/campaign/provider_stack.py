"""The wrappers every campaign provider gets: response cache and rate limit.

:func:`provider_wrapper` is what :func:`evofarm.campaign.candidate_runtime.provider_set`
passes to :class:`~evofarm.providers.registry.ProviderSet` as ``wrap``, so the
in-process loop and the farm's workers (in-process and sandbox evaluators: a
sandboxed candidate's calls come back to the worker's set) build them alike.
Each provider the set builds becomes::

    CachingProvider(RateLimitedProvider(provider))

The cache is outermost so a hit never waits for the limiter. It answers only
deterministic calls (temperature 0, or every call of a deterministic provider
such as ``mock``), so sampling is still measured; it returns the original
usage and cost, so fitness does not depend on hits (``EVOFARM_RESPONSE_CACHE``
turns it off). The limiter paces calls to providers named in
``EVOFARM_PROVIDER_RPM`` (requests per minute, one request at a time, no burst).

Scope, for now: one cache per provider set (a campaign in one process), one
limiter per provider name and rate in the process, shared by every campaign the
process serves. Fleet-wide versions on Redis will implement the same
:class:`~evofarm.providers.ratelimit.RateLimiter` interface.

Thread safety: the wrappers and the limiter table are thread-safe.
"""

from __future__ import annotations

import threading

from evofarm.errors import ProviderConfigError
from evofarm.providers.base import Provider
from evofarm.providers.cache import CachingProvider
from evofarm.providers.ratelimit import RateLimitedProvider, TokenBucketLimiter
from evofarm.providers.registry import PROVIDER_NAMES, ProviderWrapper
from evofarm.settings import Settings

RPM_SETTING = "EVOFARM_PROVIDER_RPM"

_limiters: dict[tuple[str, float], TokenBucketLimiter] = {}
_limiters_lock = threading.Lock()


def process_limiter(provider: str, per_minute: float) -> TokenBucketLimiter:
    """This process's limiter for ``provider`` at ``per_minute`` requests (made once).

    Raises:
        ProviderConfigError: ``per_minute`` is not positive.
    """
    key = (provider, per_minute)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            if per_minute <= 0:
                raise ProviderConfigError(
                    f"{RPM_SETTING}: {provider} must be > 0 requests per minute, got {per_minute:g}"
                )
            # burst 1: calls are spaced evenly rather than let through in a clump.
            limiter = TokenBucketLimiter(per_minute / 60.0, burst_requests=1.0)
            _limiters[key] = limiter
        return limiter


def check_rate_limits(settings: Settings) -> None:
    """Refuse rate limits for providers that do not exist or rates that are not positive.

    Raises:
        ProviderConfigError: names the setting, the provider and the known names.
    """
    for name, per_minute in settings.provider_rpm.items():
        if name not in PROVIDER_NAMES:
            raise ProviderConfigError(
                f"{RPM_SETTING}: unknown provider {name!r}; expected one of: "
                f"{', '.join(PROVIDER_NAMES)}"
            )
        if per_minute <= 0:
            raise ProviderConfigError(
                f"{RPM_SETTING}: {name} must be > 0 requests per minute, got {per_minute:g}"
            )


def provider_wrapper(settings: Settings) -> ProviderWrapper:
    """The ``wrap`` for a campaign's :class:`ProviderSet` under ``settings``.

    Raises:
        ProviderConfigError: the rate-limit setting is invalid (checked here, not
            at the first call).
    """
    check_rate_limits(settings)
    rpm = dict(settings.provider_rpm)
    cache = settings.response_cache

    def wrap(provider: Provider) -> Provider:
        wrapped = provider
        per_minute = rpm.get(provider.name)
        if per_minute is not None:
            wrapped = RateLimitedProvider(wrapped, process_limiter(provider.name, per_minute))
        if cache:
            # The rate-limited wrapper hides the inner provider's ``deterministic``.
            wrapped = CachingProvider(
                wrapped, cache_all=bool(getattr(provider, "deterministic", False))
            )
        return wrapped

    return wrap
