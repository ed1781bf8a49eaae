"""The memory and the Redis ledger pass one conformance suite; Redis-only behaviour."""

from __future__ import annotations

import pytest
import redis

from evofarm.fleet.ledger import RedisLedger
from evofarm.providers.ledger import Limits, MemoryLedger
from evofarm.store.redis import RedisStore
from evofarm.testing.ledger_conformance import LedgerConformance, MakeLedger, charge


class TestMemoryLedger(LedgerConformance):
    @pytest.fixture
    def make_ledger(self) -> MakeLedger:
        return MemoryLedger


class TestRedisLedger(LedgerConformance):
    @pytest.fixture
    def make_ledger(self, redis_client: redis.Redis) -> MakeLedger:
        def make(limits: Limits) -> RedisLedger:
            redis_client.hset("evofarm:c:{camp}:meta", "status", "running")
            if limits.as_counters():
                redis_client.hset("evofarm:c:{camp}:budgets", mapping=limits.as_counters())
            return RedisLedger(redis_client, "camp")

        return make


def test_the_ledger_counts_into_the_store_counters(
    redis_url: str, redis_client: redis.Redis
) -> None:
    store = RedisStore.from_url(redis_url)
    store.set_budgets("camp", {"cost_micro_usd": 500})
    ledger = RedisLedger(redis_client, "camp")
    ledger.record(charge("a", 7, 300))
    counters = store.counters("camp")
    assert counters["tokens"] == 7 and counters["cost_micro_usd"] == 300
    with pytest.raises(Exception, match="max_usd"):
        ledger.reserve("b", tokens=1, micro_usd=201)
    assert store.crossed_budget("camp") == "cost_micro_usd"


def test_reap_charges_a_dead_worker_s_reservation_once(redis_client: redis.Redis) -> None:
    ledger = RedisLedger(redis_client, "camp")
    ledger.reserve("lost", tokens=40, micro_usd=400, role="judge")
    assert ledger.reap(3600) == 0  # still young
    assert ledger.reap(0, now=10**12) == 1
    assert ledger.reap(0, now=10**12) == 0
    totals = ledger.totals()
    assert totals.by_role["judge"].tokens == 40 and totals.reserved_tokens == 0
