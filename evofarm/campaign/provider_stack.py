"""The wrappers every campaign provider gets: the one cost path, cache, rate limit.

:func:`provider_wrapper` is what :func:`evofarm.campaign.candidate_runtime.provider_set`
passes to :class:`~evofarm.providers.registry.ProviderSet` as ``wrap``, so the
in-process loop and the farm's workers (in-process and sandbox evaluators: a
sandboxed candidate's calls come back to the worker's set) build them alike.
Each provider the set builds becomes::

    MeteredProvider(CachingProvider(RateLimitedProvider(provider)))

* :class:`~evofarm.providers.metered.MeteredProvider` is outermost: it prices
  every call at the campaign's catalogue price (then the default table),
  reserves the worst case in the campaign's budget ledger and settles it to the
  billed usage; a cache hit is free and counted apart. This is the one source
  of the campaign's tokens and cost (summary, budgets, dashboard). A campaign
  with a ``models:`` catalogue lets candidates call only those models (offline
  deterministic providers exempt).
* The response cache answers deterministic calls (temperature 0, or every call
  of a deterministic provider such as ``mock``; any call if the campaign sets
  ``economy.cache_sampled``) with the original usage, so fitness does not
  depend on hits (``EVOFARM_RESPONSE_CACHE`` turns it off). On a farm its
  second level is the fleet's store, shared by every worker and campaign.
* The rate limiter paces calls to providers named in ``EVOFARM_RATE_LIMITS``
  (lowered by the campaign's ``economy.rate_limits``; a raise is refused).

Where the shared pieces come from is a :class:`Services` value: the process's
own (:func:`process_services`: a token bucket per provider and process, one
memory ledger per campaign, no shared response store) unless the caller injects
the fleet's (``evofarm.fleet.services.fleet_services``: Redis buckets shared by
every worker, the campaign's Redis ledger, the Redis response cache), as the
farm's worker bootstrap does.

Thread safety: the wrappers, the limiter table and the ledger table are thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from evofarm.campaign.budgets import usd_to_micro
from evofarm.campaign.evaluation_cache import EvaluationCache
from evofarm.campaign.spec import CampaignSpec
from evofarm.errors import ProviderConfigError
from evofarm.providers.aliases import resolve_model
from evofarm.providers.base import Provider
from evofarm.providers.cache import CachingProvider, ResponseStore
from evofarm.providers.ledger import BudgetLedger, Limits, MemoryLedger, Role
from evofarm.providers.metered import MeteredProvider
from evofarm.providers.pricing import DEFAULT_PRICES, ModelPrice, PriceTable
from evofarm.providers.rate_limits import (
    SETTING as RATE_LIMITS_SETTING,
)
from evofarm.providers.rate_limits import (
    RateLimits,
    buckets_for,
    lowered,
    parse_rate_limits,
)
from evofarm.providers.ratelimit import RateLimitedProvider, RateLimiter, TokenBucketLimiter
from evofarm.providers.registry import PROVIDER_NAMES, ProviderWrapper
from evofarm.settings import Settings

#: ``(provider, effective limits, settings) -> limiter`` of that provider.
LimiterFactory = Callable[[str, RateLimits, Settings], RateLimiter]
#: ``(campaign id, limits) -> the campaign's ledger``.
LedgerFactory = Callable[[str, Limits], BudgetLedger]


@dataclass(frozen=True)
class Services:
    """Where limiters and ledgers come from (the process's or the fleet's)."""

    limiter: LimiterFactory
    ledger: LedgerFactory
    fleet: bool = False
    responses: ResponseStore | None = None
    evaluations: EvaluationCache | None = None


_process_limiters: dict[tuple[str, str], TokenBucketLimiter] = {}
_process_ledgers: dict[str, MemoryLedger] = {}
_lock = threading.Lock()


def _process_limiter(provider: str, limits: RateLimits, settings: Settings) -> RateLimiter:
    """This process's limiter of ``provider`` at its provider-level limits (made once)."""
    top = [lim for scope, lim in buckets_for(limits, provider, "") if scope == provider]
    pace = 1.0 - settings.rate_limit_margin  # held back for arrival jitter, as the fleet's
    rps, ips = (r * pace for r in top[0].per_second()[:2]) if top else (0.0, 0.0)
    key = (provider, f"{rps}:{ips}")
    with _lock:
        limiter = _process_limiters.get(key)
        if limiter is None:
            # burst 1: calls are spaced evenly rather than let through in a clump.
            limiter = TokenBucketLimiter(
                rps or None,
                ips or None,
                burst_requests=1.0,
                max_wait_s=settings.rate_limit_max_wait_s,
            )
            _process_limiters[key] = limiter
        return limiter


def _process_ledger(campaign: str, limits: Limits) -> BudgetLedger:
    with _lock:
        ledger = _process_ledgers.get(campaign)
        if ledger is None or ledger.limits != limits:
            ledger = _process_ledgers[campaign] = MemoryLedger(limits)
        return ledger


def process_services() -> Services:
    """Per-process limiters and in-memory ledgers (the in-process loop's)."""
    return Services(limiter=_process_limiter, ledger=_process_ledger)


def new_process_ledger(campaign: str, limits: Limits) -> MemoryLedger:
    """Start a fresh in-memory ledger for ``campaign`` (a new in-process run)."""
    with _lock:
        ledger = _process_ledgers[campaign] = MemoryLedger(limits)
        return ledger


@dataclass
class _Default:
    services: Services = field(default_factory=process_services)


_default = _Default()


def set_default_services(services: Services) -> None:
    """Use ``services`` for provider sets built without explicit ones (the worker
    bootstrap injects the fleet's here, once per process)."""
    _default.services = services


def default_services() -> Services:
    """The services provider sets of this process use by default."""
    return _default.services


def effective_rate_limits(settings: Settings, spec: CampaignSpec | None = None) -> RateLimits:
    """The farm's limits lowered by the campaign's.

    Raises:
        ProviderConfigError: the setting is malformed, names an unknown provider,
            or the campaign raises a limit.
    """
    limits = parse_rate_limits(settings.rate_limits)
    for name in limits:
        if name not in PROVIDER_NAMES:
            raise ProviderConfigError(
                f"{RATE_LIMITS_SETTING}: unknown provider {name!r}; expected one of: "
                f"{', '.join(PROVIDER_NAMES)}"
            )
    if spec is not None and spec.economy.rate_limits:
        limits = lowered(limits, parse_rate_limits(spec.economy.rate_limits))
    return limits


def campaign_prices(spec: CampaignSpec | None, settings: Settings) -> PriceTable:
    """The default price table with the campaign catalogue's prices over it.

    A catalogue entry is listed under its name and its concrete id
    (``haiku`` -> ``claude-haiku-4-5``); one with both prices 0 sets no price.
    """
    if spec is None:
        return DEFAULT_PRICES
    extra: dict[str, ModelPrice] = {}
    for entry in spec.models:
        if entry.input_usd_per_mtok == 0 and entry.output_usd_per_mtok == 0:
            continue
        price = ModelPrice(
            input_per_mtok=entry.input_usd_per_mtok, output_per_mtok=entry.output_usd_per_mtok
        )
        extra[entry.model] = price
        extra[resolve_model(entry.model, settings)] = price
    return DEFAULT_PRICES.merged(extra)


def ledger_limits(spec: CampaignSpec | None) -> Limits:
    """The ledger budgets of ``spec`` (``max_tokens``, ``max_usd``)."""
    if spec is None:
        return Limits()
    b = spec.budgets
    return Limits(
        max_tokens=b.max_tokens,
        max_micro_usd=usd_to_micro(b.max_usd) if b.max_usd is not None else None,
    )


def provider_wrapper(
    settings: Settings,
    spec: CampaignSpec | None = None,
    *,
    campaign: str | None = None,
    services: Services | None = None,
    role: Role = "evaluation",
) -> ProviderWrapper:
    """The ``wrap`` for a campaign's :class:`ProviderSet` under ``settings``.

    Args:
        settings: Process settings (cache switch, rate limits, model aliases).
        spec: The campaign (prices, budgets, its rate limits); None: no ledger.
        campaign: The ledger's campaign id (default: the spec's name).
        services: Limiters and ledgers; the process default if None.
        role: The role calls through this set are charged to.

    Raises:
        ProviderConfigError: the rate-limit settings are invalid (checked here,
            not at the first call).
    """
    limits = effective_rate_limits(settings, spec)
    cache = settings.response_cache
    svc = services or default_services()
    prices = campaign_prices(spec, settings)
    budget = ledger_limits(spec)
    ledger = svc.ledger(campaign or spec.name, budget) if spec is not None else None
    max_out = spec.economy.max_output_tokens if spec is not None else None
    cache_sampled = spec is not None and spec.economy.cache_sampled
    # A non-empty catalogue is the list of models candidates may call (offline
    # providers such as mock answer any model and cost nothing: exempt).
    # The proposer's and judge's models are the campaign's choice, not a candidate's.
    catalogue = (
        frozenset(
            name
            for entry in spec.models
            for name in (entry.model, resolve_model(entry.model, settings))
        )
        if spec is not None and spec.models and role == "evaluation"
        else None
    )

    def resolve(model: str) -> str:
        return resolve_model(model, settings)

    def wrap(provider: Provider) -> Provider:
        deterministic = bool(getattr(provider, "deterministic", False))
        wrapped = provider
        if provider.name in limits:
            limiter = svc.limiter(provider.name, limits, settings)
            wrapped = RateLimitedProvider(wrapped, limiter, resolve_model=resolve)
        if cache:
            wrapped = CachingProvider(
                wrapped, cache_all=deterministic or cache_sampled, shared=svc.responses
            )
        if ledger is not None:
            wrapped = MeteredProvider(
                wrapped,
                ledger,
                prices=prices,
                role=role,
                resolve_model=resolve,
                budgeted=budget.budgeted and not deterministic,
                max_output_tokens=max_out,
                allowed_models=None if deterministic else catalogue,
            )
        return wrapped

    return wrap
