from __future__ import annotations

import threading

import pytest

from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.providers.base import LLMRequest
from evofarm.providers.cache import CachingProvider
from evofarm.providers.mock import MockProvider, ScriptedProvider


def test_deterministic_inner_caches_everything() -> None:
    inner = MockProvider()
    cache = CachingProvider(inner)
    request = LLMRequest.from_prompt("m", "hi", temperature=1.0)
    first, second = cache.complete(request), cache.complete(request)
    assert inner.calls == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text and second.usage == first.usage
    assert second.cost_usd == first.cost_usd
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.size) == (1, 1, 1)
    assert stats.hit_rate == 0.5
    assert cache.name == "mock"


def test_non_deterministic_inner_caches_only_temperature_zero() -> None:
    inner = ScriptedProvider(function=lambda r: "answer")
    cache = CachingProvider(inner)
    hot = LLMRequest.from_prompt("m", "x", temperature=0.7)
    unset = LLMRequest.from_prompt("m", "x")
    cold = LLMRequest.from_prompt("m", "x", temperature=0.0)
    for request in (hot, hot, unset, unset, cold, cold):
        cache.complete(request)
    assert len(inner.requests) == 5
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.uncacheable) == (1, 1, 4)


def test_lru_evicts_least_recently_used() -> None:
    inner = MockProvider()
    cache = CachingProvider(inner, max_entries=2)
    a, b, c = (LLMRequest.from_prompt("m", p) for p in "abc")
    cache.complete(a)
    cache.complete(b)
    cache.complete(a)  # a is now most recent
    cache.complete(c)  # evicts b
    assert inner.calls == 3
    cache.complete(a)
    assert inner.calls == 3
    cache.complete(b)
    assert inner.calls == 4
    assert cache.stats().evictions == 2
    cache.clear()
    assert cache.stats().size == 0


def test_concurrent_misses_make_one_call() -> None:
    inner = MockProvider(latency_s=0.1)
    cache = CachingProvider(inner)
    request = LLMRequest.from_prompt("m", "same")
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.complete(request))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.calls == 1
    assert len(results) == 8 and sum(not r.cached for r in results) == 1
    assert cache.stats().hits == 7


def test_errors_are_not_cached_and_waiters_retry_themselves() -> None:
    inner = ScriptedProvider([ProviderUnavailable("down"), "recovered"])
    cache = CachingProvider(inner, cache_all=True)
    request = LLMRequest.from_prompt("m", "x")
    with pytest.raises(ProviderUnavailable):
        cache.complete(request)
    assert cache.complete(request).text == "recovered"
    assert cache.complete(request).cached


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ProviderConfigError):
        CachingProvider(MockProvider(), max_entries=0)
