"""Redis-only store behaviour: many processes, failures, corrupt data."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import redis

from evofarm import keys
from evofarm.errors import StoreError
from evofarm.store.base import EvalKey
from evofarm.store.redis import RedisStore

C = "camp"


def _record_all(url: str, n: int) -> None:
    store = RedisStore.from_url(url)
    for i in range(n):
        store.record_evaluation(C, EvalKey(f"g{i}", "s", "1"), {"i": i}, tokens=10)
        store.reserve(C, "evaluations", 1)
    store.close()


def test_processes_recording_the_same_evaluations_count_once(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    store.set_budgets(C, {"evaluations": 45})
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_record_all, args=(redis_url, 30)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    counters = store.counters(C)
    assert counters["evaluations"] == 30
    assert counters["tokens"] == 300
    assert counters["duplicates"] == 60
    assert store.reserved(C) == {"evaluations": 45}


def test_unreachable_redis_raises_store_error(tmp_path: Path) -> None:
    store = RedisStore.from_url(f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(StoreError, match="redis: read counters failed"):
        store.counters(C)


def test_corrupt_documents_raise_store_error(redis_url: str, redis_client: redis.Redis) -> None:
    store = RedisStore.from_url(redis_url)
    redis_client.set(keys.genome(C, "g"), "{not json")
    with pytest.raises(StoreError, match="corrupt genome"):
        store.get_genome(C, "g")
    redis_client.set(keys.genome(C, "h"), "[1, 2]")
    with pytest.raises(StoreError, match="not a JSON object"):
        store.get_genome(C, "h")
    redis_client.hset(keys.counters(C), "tokens", "lots")
    with pytest.raises(StoreError, match="corrupt counters"):
        store.counters(C)


def test_keys_are_namespaced_per_campaign(redis_url: str, redis_client: redis.Redis) -> None:
    store = RedisStore.from_url(redis_url)
    store.create_campaign(C, {"x": 1})
    store.put_genome(C, {"id": "g"})
    store.record_evaluation(C, EvalKey("g", "s", "1"), {})
    found = set(redis_client.scan_iter("*"))
    assert found - {keys.campaign_index()}
    assert all(k.startswith(f"evofarm:c:{{{C}}}:") for k in found - {keys.campaign_index()})


@pytest.mark.slow
def test_a_blocking_wait_longer_than_redis_py_default_read_timeout(redis_url: str) -> None:
    # redis-py 8 reads with a 5 s timeout unless told otherwise; a BLPOP of more
    # than that must come back empty, not as a store error.
    store = RedisStore.from_url(redis_url)
    assert store.wait_event("c1", "events", 5.5) is None
