from __future__ import annotations

import threading
import time

import pytest

from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.providers.base import LLMRequest
from evofarm.providers.mock import MockProvider
from evofarm.providers.ratelimit import RateLimitedProvider, RateLimiter, TokenBucketLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_burst_then_sustained_rate() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(2.0, burst_requests=2, clock=clock, sleep=clock.sleep)
    assert isinstance(limiter, RateLimiter)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == pytest.approx([0.5, 0.5, 0.5])
    assert clock.now == pytest.approx(1.5)


def test_bucket_refills_while_idle_up_to_burst() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(1.0, burst_requests=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    clock.now += 100.0  # long idle: refills to the burst, not beyond
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire() == pytest.approx(1.0)


def test_token_rate_limits_large_requests() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(tokens_per_s=100.0, clock=clock, sleep=clock.sleep)
    assert limiter.acquire(100) == 0.0
    assert limiter.acquire(50) == pytest.approx(0.5)
    assert limiter.acquire(300) == pytest.approx(3.0)


def test_refuses_waits_beyond_max_wait_without_reserving() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(tokens_per_s=10.0, max_wait_s=1.0, clock=clock, sleep=clock.sleep)
    with pytest.raises(ProviderUnavailable, match="would wait"):
        limiter.acquire(1000)
    assert limiter.acquire(10) == 0.0  # nothing was reserved by the refusal


def test_invalid_rates_are_config_errors() -> None:
    with pytest.raises(ProviderConfigError):
        TokenBucketLimiter(0)
    with pytest.raises(ProviderConfigError):
        TokenBucketLimiter(tokens_per_s=-5)


def test_threads_are_paced_with_the_real_clock() -> None:
    limiter = TokenBucketLimiter(50.0, burst_requests=1)
    provider = RateLimitedProvider(MockProvider(), limiter)
    stamps: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        provider.complete(LLMRequest.from_prompt("m", "x"))
        with lock:
            stamps.append(time.monotonic())

    start = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 1 immediately, then 10 more at 50/s: at least 0.2 s in all.
    assert max(stamps) - start >= 0.19


def test_wrapper_charges_estimated_tokens_and_adds_wait_to_latency() -> None:
    charged: list[int] = []

    class Recorder:
        def acquire(self, tokens: int = 0, *, model: str | None = None) -> float:
            charged.append(tokens)
            return 0.25

        def settle(self, output_tokens: int, *, model: str | None = None) -> None:
            pass

        def pause(self, seconds: float) -> float:
            return seconds

    provider = RateLimitedProvider(MockProvider(), Recorder(), estimate_tokens=lambda r: 42)
    response = provider.complete(LLMRequest.from_prompt("m", "x"))
    assert charged == [42]
    assert response.latency_s >= 0.25
    assert provider.name == "mock"


def test_calls_asking_during_a_pause_leave_it_one_interval_apart() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(10.0, burst_requests=1, clock=clock, sleep=lambda s: None)
    limiter.pause(1.0)
    waits = [limiter.acquire() for _ in range(4)]  # all asked at once, mid-pause
    assert waits == pytest.approx([1.0, 1.1, 1.2, 1.3])
