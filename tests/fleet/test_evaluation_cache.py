"""Evaluations shared across campaigns: the key, who shares, and the Redis store."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import redis

from evofarm.campaign.bundle import Campaign, build_bundle, decode
from evofarm.campaign.evaluation_cache import shared_key
from evofarm.campaign.spec import EconomyConfig, load_campaign
from evofarm.fleet.evaluation_cache import RedisEvaluationCache

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"


def _demo() -> Campaign:
    spec = load_campaign(DEMO)
    spec = spec.model_copy(update={"economy": EconomyConfig(share_evaluations=True)})
    bundle, _ = build_bundle(spec, seed=1)
    return decode("demo", bundle.model_dump(mode="json"))


def test_the_key_names_genome_suite_fidelity_and_the_evaluation_setup() -> None:
    demo = _demo()
    key = shared_key(demo, "g1")
    assert key is not None and key.startswith(f"g1.{demo.suite_id}.{demo.fidelity}.")
    assert shared_key(replace(demo, id="another"), "g1") == key  # any campaign
    assert shared_key(demo, "g2") != key
    assert shared_key(replace(demo, suite_id="s-other"), "g1") != key
    weights = demo.spec.model_copy(
        update={"fitness": demo.spec.fitness.model_copy(update={"budget_fraction": 0.123})}
    )
    assert shared_key(replace(demo, spec=weights), "g1") != key


def test_only_campaigns_that_opt_in_share() -> None:
    demo = _demo()
    plain = demo.spec.model_copy(update={"economy": EconomyConfig()})
    assert shared_key(replace(demo, spec=plain), "g") is None


def test_the_first_evaluation_stays_and_entries_expire(redis_client: redis.Redis) -> None:
    cache = RedisEvaluationCache(redis_client, ttl_s=0.3, max_entries=2)
    cache.put("k", {"score": 0.5})
    cache.put("k", {"score": 0.9})  # a racing campaign's evaluation does not replace it
    assert cache.get("k") == {"score": 0.5}
    time.sleep(0.002)  # distinct stored-at stamps (ms)
    for name in ("a", "b"):
        cache.put(name, {"score": 0.1})
        time.sleep(0.002)
    assert cache.get("k") is None  # the cap evicted the oldest
    time.sleep(0.35)
    assert cache.get("a") is None and cache.get("b") is None
