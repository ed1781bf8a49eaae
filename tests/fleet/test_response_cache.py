"""The fleet's response cache on real Redis: shared answers, TTL, size cap, free hits."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from evofarm import keys
from evofarm.fleet.ledger import RedisLedger
from evofarm.fleet.response_cache import RedisResponseStore
from evofarm.providers.anthropic import AnthropicProvider
from evofarm.providers.base import LLMRequest, LLMResponse, Message
from evofarm.providers.cache import CachingProvider
from evofarm.providers.metered import MeteredProvider
from evofarm.providers.pricing import DEFAULT_PRICES
from evofarm.testing.fake_anthropic import FakeAnthropicServer


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


def _request(text: str, temperature: float | None = 0.0) -> LLMRequest:
    return LLMRequest(
        model="claude-haiku-4-5",
        messages=[Message(role="user", content=text)],
        max_tokens=64,
        temperature=temperature,
    )


def _worker(
    server: FakeAnthropicServer, store: RedisResponseStore, *, cache_all: bool = False
) -> CachingProvider:
    """What one worker process builds: its own provider and LRU, the fleet's store."""
    provider = AnthropicProvider("test-key", base_url=server.base_url)
    return CachingProvider(provider, cache_all=cache_all, shared=store)


def _answer(text: str) -> LLMResponse:
    return LLMResponse(text=text, model="m", provider="anthropic")


def test_a_second_worker_gets_the_first_worker_s_answer(
    server: FakeAnthropicServer, redis_client: redis.Redis
) -> None:
    store = RedisResponseStore(redis_client, ttl_s=60, max_entries=10)
    first = _worker(server, store).complete(_request("hello"))
    second_worker = _worker(server, store)
    again = second_worker.complete(_request("hello"))
    assert len(server.message_requests) == 1
    assert again.cached and not first.cached
    assert (again.text, again.usage) == (first.text, first.usage)
    assert second_worker.stats().shared_hits == 1
    # Another message, or the same one sampled, is not answered from the cache.
    second_worker.complete(_request("hello!"))
    second_worker.complete(_request("hello", temperature=0.7))
    assert len(server.message_requests) == 3


def test_sampled_calls_are_shared_only_when_opted_in(
    server: FakeAnthropicServer, redis_client: redis.Redis
) -> None:
    store = RedisResponseStore(redis_client, ttl_s=60, max_entries=10)
    _worker(server, store, cache_all=True).complete(_request("warm", temperature=1.0))
    assert _worker(server, store, cache_all=True).complete(_request("warm", 1.0)).cached
    assert not _worker(server, store).complete(_request("warm", 1.0)).cached
    assert len(server.message_requests) == 2


def test_entries_expire_after_the_ttl(redis_client: redis.Redis) -> None:
    store = RedisResponseStore(redis_client, ttl_s=0.3, max_entries=10)
    store.put("anthropic.a", _answer("a"))
    assert store.get("anthropic.a") == _answer("a")
    time.sleep(0.4)
    assert store.get("anthropic.a") is None
    store.put("anthropic.b", _answer("b"))  # prunes the expired entry from the index
    assert store.size() == 1


def test_the_size_cap_evicts_the_oldest(redis_client: redis.Redis) -> None:
    store = RedisResponseStore(redis_client, ttl_s=60, max_entries=3)
    for name in "abcde":
        store.put(f"anthropic.{name}", _answer(name))
        time.sleep(0.002)  # distinct stored-at stamps (ms)
    assert store.size() == 3
    assert [store.get(f"anthropic.{n}") is not None for n in "abcde"] == [
        False, False, True, True, True,
    ]  # fmt: skip
    assert len(redis_client.keys("evofarm:fleet:{rc}:*")) == 3  # evicted entries are deleted


def test_an_unreadable_entry_is_a_miss(redis_client: redis.Redis) -> None:
    store = RedisResponseStore(redis_client, ttl_s=60, max_entries=3)
    redis_client.set(keys.response_cache_entry("anthropic.x"), '{"text": 1')
    assert store.get("anthropic.x") is None
    assert redis_client.exists(keys.response_cache_entry("anthropic.x")) == 0


def test_a_hit_is_free_and_counted_apart(
    server: FakeAnthropicServer, redis_client: redis.Redis
) -> None:
    store = RedisResponseStore(redis_client, ttl_s=60, max_entries=10)
    redis_client.hset(keys.campaign_meta("camp"), "status", "running")
    ledger = RedisLedger(redis_client, "camp")
    for _ in range(2):  # two workers, one campaign ledger
        metered = MeteredProvider(_worker(server, store), ledger, prices=DEFAULT_PRICES)
        metered.complete(_request("hello"))
    totals = ledger.totals().by_role["evaluation"]
    billed = server.billed
    assert (totals.calls, totals.cached_calls) == (1, 1)
    assert totals.tokens == billed.tokens
