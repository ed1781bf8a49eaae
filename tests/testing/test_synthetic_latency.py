"""The synthetic evaluator's latency: fixed, or lognormal with p99/p50 = 10, keyed draws."""

from __future__ import annotations

from statistics import median, quantiles

from evofarm.testing.synthetic_eval import case_latency


def test_lognormal_latency_has_the_median_and_tail_and_repeats() -> None:
    draws = [
        case_latency(f"g{i}", f"c{j}", 0.1, "lognormal") for i in range(200) for j in range(24)
    ]
    p50 = median(draws)
    p99 = quantiles(draws, n=100)[98]
    assert 0.09 < p50 < 0.11
    assert 8.5 < p99 / p50 < 11.5
    assert max(draws) < 0.1 * 27  # clipped tail
    assert case_latency("g1", "c1", 0.1, "lognormal") == case_latency("g1", "c1", 0.1, "lognormal")
    assert case_latency("g1", "c1", 0.1, "lognormal") != case_latency("g2", "c1", 0.1, "lognormal")
    assert case_latency("g1", "c1", 0.1) == 0.1 == case_latency("g1", "c1", 0.1, "uniform")
