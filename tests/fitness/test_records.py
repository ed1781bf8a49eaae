"""Aggregating case results into an evaluation: hand-computed scores, failures, JSON."""

from __future__ import annotations

import pytest

from evofarm.fitness.checks import CheckResult
from evofarm.fitness.records import (
    WORST,
    CaseResult,
    Evaluation,
    aggregate,
    invalid_evaluation,
)
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import Budgets

CONFIG = FitnessConfig()


def run(cases: list[CaseResult], budgets: Budgets | None = None) -> Evaluation:
    return aggregate(
        cases,
        suite_id="s-x",
        budgets=budgets or Budgets(),
        config=CONFIG,
        fidelity=1.0,
        genome_id="g",
    )


A = CaseResult(
    case_id="a",
    weight=1,
    passed_checks=3,
    total_checks=4,
    required_passed=1,
    required_total=1,
    efficiency=1.0,
    tokens=100,
    latency_ms=10,
    checks=[CheckResult(type="equals", label="eq", required=True, passed=True)],
)
B = CaseResult(
    case_id="b",
    weight=3,
    passed_checks=1,
    total_checks=2,
    required_passed=0,
    required_total=1,
    efficiency=0.5,
    tokens=300,
    latency_ms=30,
    retries=1,
)


def test_weighted_terms_and_score_by_hand() -> None:
    ev = run([A, B])
    assert ev.test_rate == pytest.approx((0.75 * 1 + 0.5 * 3) / 4)  # 0.5625
    assert ev.gates == pytest.approx(0.25)
    assert ev.efficiency == pytest.approx((1.0 + 0.5 * 3) / 4)  # 0.625
    assert ev.score == pytest.approx(0.5625 * 0.5 + 0.25 * 0.25 + 0.625 * 0.25)  # 0.5
    assert ev.objectives == {
        "quality": pytest.approx(0.5625),
        "fitness": pytest.approx(0.5),
        "tokens": 200.0,
        "latency": 20.0,
        "cost": 0.0,
    }
    assert (ev.tokens, ev.time_ms, ev.tests_passed, ev.tests_total) == (400, 40.0, 4, 6)
    assert ev.outcome == "ok" and ev.reason is None


def test_evaluation_reports_the_judges_band_under_the_campaign_thresholds() -> None:
    ev = run([A, B])  # score 0.5 (above)
    assert ev.band == "rewrite"  # default bands: 0.50 <= 0.5 < 0.70
    strict = FitnessConfig.model_validate(
        {"thresholds": {"log_only": 0.95, "tune_lightly": 0.9, "redesign": 0.6}}
    )
    lenient = FitnessConfig.model_validate(
        {"thresholds": {"log_only": 0.4, "tune_lightly": 0.3, "redesign": 0.2}}
    )
    for config, band in ((strict, "redesign"), (lenient, "log_only")):
        made = aggregate([A, B], suite_id="s-x", budgets=Budgets(), config=config, fidelity=1.0)
        assert made.band == band
        assert Evaluation.model_validate(made.model_dump(mode="json")).band == band
    unrun = invalid_evaluation(suite_id="s-x", fidelity=1.0, reason="bad")
    assert unrun.band is None and "band" not in unrun.model_dump(mode="json")


def test_dimensions() -> None:
    ev = run([A, B], Budgets(tokens_per_case=150, time_ms_per_case=20))
    assert ev.dimensions["output_quality"] == pytest.approx(0.5625)
    # tokens: a 100/150 -> 1; b 300/150 -> 0.5; weighted (1 + 1.5) / 4
    assert ev.dimensions["token_efficiency"] == pytest.approx(0.625)
    assert ev.dimensions["execution_speed"] == pytest.approx((1 + 3 * (20 / 30)) / 4)
    assert ev.dimensions["error_recovery"] == 1.0  # b retried and still completed
    no_budget = run([A, B])
    assert no_budget.dimensions["token_efficiency"] == pytest.approx(1 / (1 + 0.2))
    assert no_budget.dimensions["execution_speed"] == pytest.approx(1 / (1 + 0.02))


def test_error_recovery_counts_failed_runs() -> None:
    failed = CaseResult(case_id="c", outcome="candidate_error", reason="boom", total_checks=2)
    ev = run([A, B, failed])
    assert ev.dimensions["error_recovery"] == pytest.approx(0.5)
    assert "c: boom" in ev.errors


def test_gates_without_required_checks_is_share_of_completed_runs() -> None:
    ok = CaseResult(case_id="a", passed_checks=1, total_checks=1, efficiency=1.0)
    bad = CaseResult(case_id="b", outcome="timeout", reason="slow", total_checks=1)
    ev = run([ok, bad])
    assert ev.gates == pytest.approx(0.5)
    assert ev.score == pytest.approx(0.5 * 0.5 + 0.5 * 0.25 + 0.5 * 0.25)


def test_all_cases_failed_takes_first_failure_and_worst_objectives() -> None:
    c1 = CaseResult(case_id="a", outcome="timeout", reason="wall time", total_checks=1)
    c2 = CaseResult(case_id="b", outcome="candidate_error", reason="x", total_checks=1)
    ev = run([c1, c2])
    assert ev.outcome == "timeout"
    assert ev.reason is not None and "a: wall time" in ev.reason
    assert ev.score == 0.0
    assert ev.objectives["tokens"] == WORST and ev.objectives["quality"] == 0.0


def test_invalid_evaluation_scores_zero_with_reason() -> None:
    ev = invalid_evaluation(suite_id="s", fidelity=0.5, reason="dangling reference", genome_id="g")
    assert (ev.score, ev.outcome, ev.reason) == (0.0, "invalid", "dangling reference")
    assert ev.objectives["latency"] == WORST
    assert CONFIG.oriented(ev.objectives)[0] == 0.0


def test_json_round_trip_is_exact() -> None:
    ev = run([A, B], Budgets(tokens_per_case=150))
    again = Evaluation.model_validate_json(ev.model_dump_json())
    assert again == ev
    assert Evaluation.model_validate(ev.model_dump(mode="json")) == ev


def test_error_lists_are_capped() -> None:
    noisy = CaseResult(case_id="a", errors=["e" * 1000] * 5, total_checks=1, passed_checks=1)
    ev = run(
        [noisy] + [CaseResult(case_id=f"z{i}", errors=["x"], total_checks=1) for i in range(30)]
    )
    assert len(ev.errors) == 20
    assert all(len(e) <= 300 for e in ev.errors)
