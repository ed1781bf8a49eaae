"""The fleet rate limiter: one bucket for many processes, a fleet-wide pause, bounded waits."""

from __future__ import annotations

import itertools
import multiprocessing
import time

import pytest
import redis

from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.fleet.ratelimit import RedisRateLimiter
from evofarm.providers.rate_limits import lowered, parse_rate_limits

LIMITS = parse_rate_limits('{"anthropic": {"requests_per_minute": 1200}}')  # 20/s


def _grab(url: str, n: int, out: multiprocessing.Queue[list[float]]) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    limiter = RedisRateLimiter(client, "anthropic", LIMITS)
    stamps = []
    for _ in range(n):
        limiter.acquire(10, model="claude-haiku-4-5")
        stamps.append(time.monotonic())
    out.put(stamps)


def test_four_processes_share_one_rate(redis_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[list[float]] = ctx.Queue()
    procs = [ctx.Process(target=_grab, args=(redis_url, 10, out)) for _ in range(4)]
    for p in procs:
        p.start()
    stamps = sorted(s for _ in procs for s in out.get(timeout=60))
    for p in procs:
        p.join(timeout=10)
    span = stamps[-1] - stamps[0]
    # 40 grants at 20/s with a burst of one: about 2 s for the fleet, never less than 1.9.
    assert span >= 39 / 20 * 0.95
    # in any one-second window, at most 20 (+1 for the window's edge) grants
    assert max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps) <= 21


def test_a_pause_holds_every_worker(redis_client: redis.Redis) -> None:
    a = RedisRateLimiter(redis_client, "anthropic", LIMITS)
    b = RedisRateLimiter(redis_client, "anthropic", LIMITS)
    assert a.pause(0.5) == pytest.approx(0.5, abs=0.05)
    started = time.monotonic()
    b.acquire(1)
    assert time.monotonic() - started >= 0.4


def test_a_wait_beyond_the_bound_is_an_infra_error(redis_client: redis.Redis) -> None:
    limiter = RedisRateLimiter(redis_client, "anthropic", LIMITS, max_wait_s=0.1)
    limiter.pause(5)
    with pytest.raises(ProviderUnavailable, match="fleet rate limit"):
        limiter.acquire(1)


def test_model_buckets_and_output_tokens(redis_client: redis.Redis) -> None:
    limits = parse_rate_limits(
        '{"anthropic": {"models": {"claude-opus": {"output_tokens_per_minute": 600}}}}'
    )  # 10 output tokens per second for opus models only
    limiter = RedisRateLimiter(redis_client, "anthropic", limits, sleep=lambda s: None)
    assert limiter.acquire(1, model="claude-haiku-4-5") == 0
    limiter.acquire(1, model="claude-opus-4-1")
    limiter.settle(30, model="claude-opus-4-1")  # 3 s of output allowance spent
    assert limiter.acquire(1, model="claude-opus-4-1") > 1.5
    assert limiter.acquire(1, model="claude-haiku-4-5") == 0


def test_a_campaign_may_only_lower_limits() -> None:
    base = parse_rate_limits('{"anthropic": {"requests_per_minute": 600}}')
    low = lowered(base, parse_rate_limits('{"anthropic": {"requests_per_minute": 60}}'))
    assert low["anthropic"].requests_per_minute == 60
    with pytest.raises(ProviderConfigError, match="only lower"):
        lowered(base, parse_rate_limits('{"anthropic": {"requests_per_minute": 6000}}'))
    with pytest.raises(ProviderConfigError, match="EVOFARM_RATE_LIMITS"):
        parse_rate_limits('{"anthropic": {"requests_per_minute": -1}}')


def test_calls_booked_during_a_pause_leave_it_spaced_not_in_a_clump(
    redis_client: redis.Redis,
) -> None:
    # A 429's pause must not store up turns: the calls that asked during it go
    # out one interval apart after it, or the pause's end is the next 429 storm.
    limiter = RedisRateLimiter(redis_client, "anthropic", LIMITS, sleep=lambda s: None)
    limiter.acquire(0)
    limiter.pause(1.0)
    waits = [limiter.acquire(0) for _ in range(6)]
    gaps = [b - a for a, b in itertools.pairwise(waits)]
    assert waits[0] >= 0.95
    # 20/s less the default 10 % margin for arrival jitter: one call per 1/18 s.
    assert gaps == pytest.approx([1 / 18] * 5, abs=0.004), gaps
