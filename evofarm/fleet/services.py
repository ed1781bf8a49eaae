"""The fleet's services for one process: what the worker bootstrap injects.

:func:`fleet_services` builds a :class:`~evofarm.campaign.provider_stack.Services`
on a Redis client: a :class:`~evofarm.fleet.ratelimit.RedisRateLimiter` per
provider (and set of limits), a :class:`~evofarm.fleet.ledger.RedisLedger` per
campaign, one :class:`~evofarm.fleet.response_cache.RedisResponseStore` and one
:class:`~evofarm.fleet.evaluation_cache.RedisEvaluationCache`.
:func:`install` makes them the process default, so every provider set
the worker builds for a campaign (sandbox and in-process evaluators, the
proposer runtime) shares the fleet's buckets, the campaign's ledger and the
fleet's cached answers.

Thread-safe; one client per process.
"""

from __future__ import annotations

import threading

import redis

from evofarm.campaign.provider_stack import Services, set_default_services
from evofarm.campaign.scheduler.reaping import Reaper
from evofarm.fleet.evaluation_cache import RedisEvaluationCache
from evofarm.fleet.ledger import RedisLedger
from evofarm.fleet.ratelimit import RedisRateLimiter
from evofarm.fleet.response_cache import RedisResponseStore
from evofarm.providers.ledger import BudgetLedger, Limits
from evofarm.providers.rate_limits import RateLimits
from evofarm.providers.ratelimit import RateLimiter
from evofarm.settings import Settings, get_settings
from evofarm.store.redis import connect


def fleet_services(client: redis.Redis, settings: Settings | None = None) -> Services:
    """Limiters, ledgers (made once per provider / campaign) and the response cache on
    ``client``; the cache's bounds come from ``settings`` (default: the process's)."""
    cfg = settings or get_settings()
    responses = RedisResponseStore(
        client, ttl_s=cfg.response_cache_ttl_s, max_entries=cfg.response_cache_max_entries
    )
    limiters: dict[tuple[str, str], RedisRateLimiter] = {}
    ledgers: dict[str, RedisLedger] = {}
    lock = threading.Lock()

    def limiter(provider: str, limits: RateLimits, settings: Settings) -> RateLimiter:
        key = (provider, repr(sorted((k, v.model_dump_json()) for k, v in limits.items())))
        with lock:
            made = limiters.get(key)
            if made is None:
                made = limiters[key] = RedisRateLimiter(
                    client,
                    provider,
                    limits,
                    max_wait_s=settings.rate_limit_max_wait_s,
                    retry_after_cap_s=settings.provider_retry_after_cap_s,
                    margin=settings.rate_limit_margin,
                )
            return made

    def ledger(campaign: str, limits: Limits) -> BudgetLedger:
        # The limits live in the store (set on submit): the ledger reads them there.
        del limits
        with lock:
            made = ledgers.get(campaign)
            if made is None:
                made = ledgers[campaign] = RedisLedger(client, campaign)
            return made

    evaluations = RedisEvaluationCache(
        client, ttl_s=cfg.evaluation_cache_ttl_s, max_entries=cfg.evaluation_cache_max_entries
    )
    return Services(
        limiter=limiter,
        ledger=ledger,
        fleet=True,
        responses=responses,
        evaluations=evaluations,
    )


def ledger_reaper(client: redis.Redis) -> Reaper:
    """The scheduler's :data:`~evofarm.campaign.scheduler.reaping.Reaper` on ``client``:
    :meth:`RedisLedger.reap` of the campaign's ledger."""

    def reap(campaign: str, older_than_s: float) -> int:
        return RedisLedger(client, campaign).reap(older_than_s)

    return reap


def install(url: str) -> Services:
    """Make the fleet's services on ``url`` this process's default and return them.

    Raises:
        StoreError: the URL cannot be connected to.
    """
    services = fleet_services(connect(url))
    set_default_services(services)
    return services
