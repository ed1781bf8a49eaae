"""Redis Cluster readiness: keys used together hash to one slot, and every script
and transaction runs on a Redis in cluster mode, which refuses cross-slot keys.

The key test walks every builder in :mod:`evofarm.keys` whose first argument is
a campaign (a new builder is checked without being listed here). The scripts
run through the store and ledger conformance suites and the fleet's rate
limiter and caches against a real single-node cluster (all 16384 slots on one
redis-server): a script or MULTI given keys of two slots fails with CROSSSLOT.
"""

from __future__ import annotations

import contextlib
import inspect
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import key_slot

from evofarm import keys
from evofarm.evolution.memory import mine_patterns
from evofarm.farm.redis_server import find_redis_server, socket_url
from evofarm.fleet.evaluation_cache import RedisEvaluationCache
from evofarm.fleet.ledger import RedisLedger
from evofarm.fleet.ratelimit import RedisRateLimiter
from evofarm.fleet.response_cache import RedisResponseStore
from evofarm.providers.base import LLMResponse
from evofarm.providers.ledger import Limits
from evofarm.providers.rate_limits import parse_rate_limits
from evofarm.store.base import SharedStore
from evofarm.store.collective import RedisCollective
from evofarm.store.registry import open_shared_store
from evofarm.testing.ledger_conformance import LedgerConformance, MakeLedger
from evofarm.testing.store_conformance import StoreConformance

CAMPAIGNS = ["demo-20260101-000000-ab12", "c1", "x.y_z-9", "a" * 128]

#: Sample values for the non-campaign parameters of the key builders, by name.
SAMPLES: dict[str, object] = {
    "genome_id": "0f" * 32, "suite_id": "suite-1", "fidelity": "1.0", "generation": 7,
    "kind": "breed", "channel": "events", "name": "n",
}  # fmt: skip


def _slot(key: str) -> int:
    return int(key_slot(key.encode()))


def _campaign_builders() -> list[Callable[..., str]]:
    found = []
    for name, fn in inspect.getmembers(keys, inspect.isfunction):
        params = list(inspect.signature(fn).parameters)
        if (
            not name.startswith("_")
            and fn.__module__ == keys.__name__
            and params[:1] == ["campaign"]
        ):
            found.append(fn)
    return found


def _build(fn: Callable[..., str], campaign: str) -> str:
    params = list(inspect.signature(fn).parameters)[1:]
    return fn(campaign, *(SAMPLES[p] for p in params))


def test_every_key_of_one_campaign_is_in_the_campaigns_slot() -> None:
    builders = _campaign_builders()
    # The store's and the ledger's keys at least (a rename must not drop one silently).
    names = {fn.__name__ for fn in builders}
    assert {"campaign_meta", "evaluation", "counters", "ledger_reserved", "lease"} <= names
    slots = set()
    for campaign in CAMPAIGNS:
        slot = _slot(keys.campaign_meta(campaign))
        assert slot == _slot(campaign)  # the tag is the id itself
        built = {fn.__name__: _build(fn, campaign) for fn in builders}
        assert {n: _slot(k) for n, k in built.items()} == dict.fromkeys(built, slot)
        slots.add(slot)
    assert len(slots) > 1  # campaigns spread over the slots


def test_fleet_groups_each_share_one_slot() -> None:
    memory = [
        keys.memory_patterns(), keys.memory_pattern_winners(), keys.memory_gallery(),
        keys.memory_failures(), keys.memory_failure_counts(),
    ]  # fmt: skip
    assert len({_slot(k) for k in memory}) == 1
    for provider in ("anthropic", "gemini", "mock"):
        rate = [keys.rate_pause(provider), keys.rate_bucket(provider)]
        rate += [keys.rate_bucket(provider, m) for m in ("claude-haiku-4-5", "a/b:c d", "x" * 300)]
        assert {_slot(k) for k in rate} == {_slot(provider)}
    for entry, index in (
        (keys.response_cache_entry, keys.response_cache_index()),
        (keys.evaluation_cache_entry, keys.evaluation_cache_index()),
    ):
        assert {_slot(entry(k)) for k in ("a", "0f" * 32, "odd key/with:sep")} == {_slot(index)}


# ---- the scripts on a Redis in cluster mode ---------------------------------------


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    """A redis-server in cluster mode holding every slot, on a private unix socket."""
    directory = Path(tempfile.mkdtemp(prefix="evofarm-cluster-"))
    socket = directory / "redis.sock"
    proc = subprocess.Popen(
        [
            find_redis_server(), "--port", "0", "--unixsocket", str(socket),
            "--unixsocketperm", "700", "--dir", str(directory), "--save", "",
            "--appendonly", "no", "--cluster-enabled", "yes",
            "--cluster-config-file", str(directory / "nodes.conf"),
            "--logfile", str(directory / "redis.log"),
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = socket_url(socket)
    try:
        client = _wait_answering(url, proc)
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        deadline = time.monotonic() + 20
        while "cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "the one-node cluster did not come up"
            time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_answering(url: str, proc: subprocess.Popen[bytes]) -> redis.Redis:
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, "redis-server (cluster mode) exited"
        client: redis.Redis = redis.Redis.from_url(url, decode_responses=True)
        try:
            client.ping()
            return client
        except redis.ConnectionError:
            client.close()
            assert time.monotonic() < deadline, "redis-server (cluster mode) did not answer"
            time.sleep(0.05)


@pytest.fixture
def cluster_client(cluster_url: str) -> Iterator[redis.Redis]:
    client: redis.Redis = redis.Redis.from_url(cluster_url, decode_responses=True)
    client.flushall()
    try:
        yield client
    finally:
        client.close()


def test_the_cluster_refuses_cross_slot_keys(cluster_client: redis.Redis) -> None:
    # What makes the suites below a check: a script given two slots' keys fails.
    with pytest.raises(redis.ResponseError, match="hash to the same slot"):
        cluster_client.eval("return 1", 2, keys.campaign_meta("a"), keys.campaign_meta("b"))
    assert cluster_client.eval("return 1", 2, keys.campaign_meta("a"), keys.lease("a")) == 1


class TestStoreOnCluster(StoreConformance):
    @pytest.fixture
    def store(self, cluster_client: redis.Redis, cluster_url: str) -> Iterator[SharedStore]:
        opened = open_shared_store(cluster_url)
        try:
            yield opened
        finally:
            opened.close()


class TestLedgerOnCluster(LedgerConformance):
    @pytest.fixture
    def make_ledger(self, cluster_client: redis.Redis) -> MakeLedger:
        def make(limits: Limits) -> RedisLedger:
            cluster_client.hset(keys.campaign_meta("camp"), "status", "running")
            if limits.as_counters():
                cluster_client.hset(keys.budget_limits("camp"), mapping=limits.as_counters())
            return RedisLedger(cluster_client, "camp")

        return make


def test_rate_limits_caches_and_memory_run_on_the_cluster(cluster_client: redis.Redis) -> None:
    limits = parse_rate_limits(
        '{"anthropic": {"requests_per_minute": 6000,'
        ' "models": {"claude-opus": {"output_tokens_per_minute": 600}}}}'
    )
    limiter = RedisRateLimiter(cluster_client, "anthropic", limits, sleep=lambda s: None)
    assert limiter.acquire(5, model="claude-opus-4-1") == 0  # pause + provider + model buckets
    limiter.settle(30, model="claude-opus-4-1")
    assert limiter.pause(0.5) > 0
    responses = RedisResponseStore(cluster_client, ttl_s=60, max_entries=2)
    for key in ("r1", "r2", "r3"):  # the third put evicts the oldest through the index
        responses.put(key, LLMResponse(text=key, model="m", provider="anthropic"))
    assert responses.size() == 2 and responses.get("r1") is None
    hit = responses.get("r3")
    assert hit is not None and hit.text == "r3"
    evaluations = RedisEvaluationCache(cluster_client, ttl_s=60, max_entries=1)
    evaluations.put("e1", {"score": 1.0})
    evaluations.put("e2", {"score": 0.5})
    assert evaluations.get("e1") is None and evaluations.get("e2") == {"score": 0.5}
    memory = RedisCollective(cluster_client)
    step = {"name": "a", "type": "transform", "input": "{{inputs.x}}"}
    winner = {"name": "w", "steps": [{**step, "operations": [{"op": "strip"}]}]}
    assert memory.add_patterns(mine_patterns(winner, campaign="c", genome="g", fitness=1.0)) > 0
    assert memory.patterns() and memory.gallery()
