from __future__ import annotations

import email.utils

import pytest

from evofarm.errors import ProviderConfigError
from evofarm.providers.retry import BackoffPolicy, parse_retry_after


def test_backoff_is_exponential_bounded_and_jittered() -> None:
    policy = BackoffPolicy(base_s=1.0, cap_s=5.0, jitter=0.5)
    for attempt, raw in enumerate([1.0, 2.0, 4.0, 5.0, 5.0, 5.0]):
        delays = {policy.delay(attempt) for _ in range(20)}
        assert all(raw * 0.5 <= d <= raw for d in delays)
        assert len(delays) > 1  # jitter spreads them
    assert BackoffPolicy(base_s=1.0, jitter=0.0).delay(2) == 4.0
    assert BackoffPolicy(base_s=1.0, cap_s=3.0).delay(10_000) <= 3.0


def test_retry_after_replaces_backoff_up_to_its_cap() -> None:
    policy = BackoffPolicy(retry_after_cap_s=10.0)
    assert policy.delay(0, retry_after=3.0) == 3.0
    assert policy.delay(5, retry_after=0.0) == 0.0
    assert policy.delay(0, retry_after=99.0) == 10.0


def test_invalid_policy_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError, match="max_retries must be >= 0"):
        BackoffPolicy(max_retries=-1)
    with pytest.raises(ProviderConfigError, match="jitter"):
        BackoffPolicy(jitter=2.0)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"Retry-After": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "junk", "retry-after": "9"}) == 9.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)
    assert parse_retry_after({"retry-after": "-3"}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after(None) is None
