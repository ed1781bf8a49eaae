"""A Redis from before the hash-tagged key layout gets today's names, values and TTLs kept."""

from __future__ import annotations

import json

import redis
from typer.testing import CliRunner

from evofarm import keys
from evofarm.cli.main import app
from evofarm.evolution.memory import mine_patterns
from evofarm.fleet.evaluation_cache import RedisEvaluationCache
from evofarm.fleet.ledger import RedisLedger
from evofarm.fleet.ratelimit import RedisRateLimiter
from evofarm.providers.rate_limits import parse_rate_limits
from evofarm.store.base import EvalKey
from evofarm.store.collective import RedisCollective
from evofarm.store.key_migration import Migration, migrate_keys, new_name
from evofarm.store.redis import RedisStore
from evofarm.testing.ledger_conformance import charge

C = "camp-1"
WINNER = {"name": "w", "steps": [{"name": "a", "type": "transform", "input": "{{inputs.x}}",
                                  "operations": [{"op": "lower"}, {"op": "strip"}]}]}  # fmt: skip
LIMITS = parse_rate_limits(
    '{"anthropic": {"requests_per_minute": 600, "models": {"claude": {"requests_per_minute": 60}}}}'
)


def _fill(redis_url: str, client: redis.Redis) -> None:
    """Every kind of key the farm writes, under today's names."""
    store = RedisStore.from_url(redis_url)
    store.create_campaign(C, {"x": 1}, info={"name": "n"})
    store.put_genome(C, {"id": "g1", "pipeline": {}})
    store.record_evaluation(C, EvalKey("g1", "s", "1.0"), {"score": 0.5}, tokens=3)
    store.save_checkpoint(C, 0, {"generation": 0}, [{"genome": "g1"}])
    store.add_lineage(C, [{"parent": "g0", "child": "g1"}])
    RedisLedger(client, C).reserve("call-1", tokens=5, micro_usd=7)
    RedisLedger(client, C).record(charge("call-2", 2, 1))
    RedisCollective(client).add_patterns(mine_patterns(WINNER, campaign=C, genome="g1", fitness=1))
    RedisRateLimiter(client, "anthropic", LIMITS, sleep=lambda s: None).acquire(1, model="claude")
    RedisEvaluationCache(client, ttl_s=60, max_entries=10).put("k", {"score": 1.0})
    store.close()


def _dump(raw: redis.Redis) -> dict[str, tuple[bytes, bool]]:
    """Every key's DUMP payload and whether it has a TTL (``raw`` answers bytes)."""
    return {k.decode(): (raw.dump(k), raw.pttl(k) > 0) for k in raw.scan_iter("*")}


def test_old_names_are_renamed_back_and_caches_dropped(
    redis_url: str, redis_client: redis.Redis
) -> None:
    _fill(redis_url, redis_client)
    raw = redis.Redis.from_url(redis_url)  # DUMP payloads are bytes
    today = _dump(raw)
    caches = {k for k in today if k.startswith(("evofarm:fleet:{ec}", "evofarm:fleet:{rc}"))}
    assert caches and any(k.startswith("evofarm:fleet:rl:{") for k in today)
    # The old layout was today's without the tag braces.
    for name in today:
        redis_client.rename(name, name.replace("{", "").replace("}", ""))
    assert all("{" not in k for k in redis_client.scan_iter("*"))
    assert migrate_keys(redis_client, dry_run=True) == Migration(
        renamed=len(today) - len(caches) - 1, dropped=len(caches)
    )  # the campaign index kept its name
    done = migrate_keys(redis_client)
    assert done == Migration(renamed=len(today) - len(caches) - 1, dropped=len(caches))
    after = _dump(raw)
    assert after == {k: v for k, v in today.items() if k not in caches}
    store = RedisStore.from_url(redis_url)
    record = store.get_campaign(C)
    assert record is not None and record.info == {"name": "n"}
    assert store.counters(C)["evaluations"] == 1
    assert [r.id for r in store.list_campaigns()] == [C]
    assert migrate_keys(redis_client) == Migration()  # rerun: nothing left to do
    raw.close()
    store.close()


def test_a_taken_new_name_is_a_conflict_and_nothing_is_overwritten(
    redis_client: redis.Redis,
) -> None:
    redis_client.set("evofarm:c:camp-1:lease", "old")
    redis_client.set(keys.lease(C), "new")
    assert migrate_keys(redis_client) == Migration(conflicts=1)
    assert redis_client.get(keys.lease(C)) == "new"
    assert redis_client.get("evofarm:c:camp-1:lease") == "old"
    assert new_name("evofarm:campaigns") is None and new_name(keys.lease(C)) is None


def test_evofarm_migrate_keys_prints_its_counts(redis_url: str, redis_client: redis.Redis) -> None:
    redis_client.set("evofarm:memory:gallery-x", "1")
    out = CliRunner().invoke(app, ["migrate-keys", "--redis", redis_url, "--dry-run"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"renamed": 1, "dropped": 0, "conflicts": 0, "dry_run": True}
    assert redis_client.exists("evofarm:memory:gallery-x")
    out = CliRunner().invoke(app, ["migrate-keys", "--redis", redis_url])
    assert json.loads(out.output)["renamed"] == 1
    assert redis_client.get(f"{keys.MEMORY}:gallery-x") == "1"
