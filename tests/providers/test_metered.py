"""MeteredProvider: the one cost path (prices, reserve-then-settle, refusals)."""

from __future__ import annotations

import pytest

from evofarm.errors import BudgetExceeded, ProviderConfigError
from evofarm.providers.base import LLMRequest, LLMResponse, Usage
from evofarm.providers.cache import CachingProvider
from evofarm.providers.ledger import Limits, MemoryLedger
from evofarm.providers.metered import MeteredProvider, max_input_tokens
from evofarm.providers.mock import ScriptedProvider
from evofarm.providers.pricing import DEFAULT_PRICES, ModelPrice


def _reply(request: LLMRequest) -> LLMResponse:
    return LLMResponse(
        text="ok",
        usage=Usage(input_tokens=100, output_tokens=10),
        model=request.model,
        provider="scripted",
        cost_usd=123.0,  # what the provider claims is ignored: the campaign's price counts
    )


def _metered(limits: Limits | None = None, **kw: object) -> tuple[MeteredProvider, MemoryLedger]:
    ledger = MemoryLedger(limits)
    inner = ScriptedProvider(function=_reply)
    prices = DEFAULT_PRICES.merged({"haiku": ModelPrice(input_per_mtok=1.0, output_per_mtok=5.0)})
    return MeteredProvider(inner, ledger, prices=prices, **kw), ledger  # type: ignore[arg-type]


def test_a_call_is_priced_at_the_catalogue_and_counted() -> None:
    provider, ledger = _metered()
    response = provider.complete(LLMRequest.from_prompt("haiku", "hi"))
    assert response.cost_usd == pytest.approx((100 * 1 + 10 * 5) / 1e6)
    totals = ledger.totals()
    assert (totals.total.tokens, totals.total.micro_usd, totals.total.calls) == (110, 150, 1)
    assert totals.reserved_tokens == 0


def test_the_worst_case_is_reserved_and_a_crossing_refused_before_sending() -> None:
    provider, ledger = _metered(Limits(max_micro_usd=200), budgeted=True)
    request = LLMRequest.from_prompt("haiku", "hi", max_tokens=30)
    provider.complete(request)  # worst ~ (max_input + 30 x 5) micro: fits once
    with pytest.raises(BudgetExceeded, match="max_usd"):
        provider.complete(request)
    assert isinstance(provider.inner, ScriptedProvider) and len(provider.inner.requests) == 1
    assert ledger.crossed() == "max_usd"


def test_an_unpriced_model_is_refused_when_budgeted_and_free_otherwise() -> None:
    budgeted, _ = _metered(Limits(max_tokens=10**6), budgeted=True)
    with pytest.raises(ProviderConfigError, match="no known price"):
        budgeted.complete(LLMRequest.from_prompt("mystery-model", "hi"))
    free, ledger = _metered()
    assert free.complete(LLMRequest.from_prompt("mystery-model", "hi")).cost_usd == 0.0
    assert ledger.totals().total.tokens == 110


def test_max_tokens_is_clamped_to_the_campaign_limit() -> None:
    provider, _ = _metered(max_output_tokens=50)
    provider.complete(LLMRequest.from_prompt("haiku", "hi", max_tokens=4000))
    assert isinstance(provider.inner, ScriptedProvider)
    assert provider.inner.requests[0].max_tokens == 50


def test_a_cache_hit_is_free_and_counted_apart() -> None:
    ledger = MemoryLedger()
    cache = CachingProvider(ScriptedProvider(function=_reply), cache_all=True)
    provider = MeteredProvider(cache, ledger, prices=DEFAULT_PRICES)
    request = LLMRequest.from_prompt("claude-haiku-4-5", "same")
    provider.complete(request)
    hit = provider.complete(request)
    assert hit.cached and hit.cost_usd > 0  # the trace keeps the original cost
    totals = ledger.totals().by_role["evaluation"]
    assert (totals.calls, totals.cached_calls, totals.tokens) == (1, 1, 110)


def test_max_input_tokens_bounds_any_tokenizer() -> None:
    request = LLMRequest.from_prompt("haiku", "héllo wörld " * 10, system="be brief")
    assert max_input_tokens(request) >= len(("héllo wörld " * 10).encode()) + len(b"be brief")


def test_only_catalogue_models_may_be_called() -> None:
    provider, _ = _metered(allowed_models=frozenset({"haiku", "claude-haiku-4-5"}))
    provider.complete(LLMRequest.from_prompt("haiku", "hi"))
    with pytest.raises(ProviderConfigError, match="catalogue"):
        provider.complete(LLMRequest.from_prompt("claude-opus-4-1", "hi"))
