"""The judge formula, efficiency, bands and the fitness config, against hand-computed values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from evofarm.fitness.scoring import (
    FitnessConfig,
    Thresholds,
    budget_efficiency,
    case_efficiency,
    judge_fitness,
)


@pytest.mark.parametrize(
    ("terms", "weights", "expected"),
    [
        ((0.8, 1.0, 0.5), (0.5, 0.25, 0.25), 0.775),  # 0.4 + 0.25 + 0.125
        ((1.0, 1.0, 1.0), (0.5, 0.25, 0.25), 1.0),
        ((0.0, 0.0, 0.0), (0.5, 0.25, 0.25), 0.0),
        ((0.5, 0.5, 1.0), (0.6, 0.2, 0.2), 0.6),  # 0.3 + 0.1 + 0.2
        ((0.2, 0.9, 0.3), (1.0, 0.0, 0.0), 0.2),
    ],
)
def test_judge_formula(
    terms: tuple[float, float, float], weights: tuple[float, float, float], expected: float
) -> None:
    assert judge_fitness(*terms, weights=weights) == pytest.approx(expected)


def test_default_weights_are_the_judges() -> None:
    assert judge_fitness(0.6, 0.4, 0.2) == pytest.approx(0.6 * 0.5 + 0.4 * 0.25 + 0.2 * 0.25)


@pytest.mark.parametrize(
    ("terms", "weights"),
    [
        ((1.2, 0.5, 0.5), (0.5, 0.25, 0.25)),
        ((0.5, -0.1, 0.5), (0.5, 0.25, 0.25)),
        ((0.5, 0.5, float("nan")), (0.5, 0.25, 0.25)),
        ((0.5, 0.5, 0.5), (0.5, 0.25, 0.15)),
        ((0.5, 0.5, 0.5), (1.5, -0.25, -0.25)),
    ],
)
def test_judge_formula_refuses_bad_terms_and_weights(
    terms: tuple[float, float, float], weights: tuple[float, float, float]
) -> None:
    with pytest.raises(ValueError):
        judge_fitness(*terms, weights=weights)


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_formula_stays_in_unit_interval_and_is_monotone(
    t: float, g: float, e: float, w0: float, w1: float
) -> None:
    total = w0 + w1 + 1.0
    weights = (w0 / total, w1 / total, 1.0 - w0 / total - w1 / total)
    if min(weights) < 0:
        return
    score = judge_fitness(t, g, e, weights)
    assert 0.0 <= score <= 1.0
    assert judge_fitness(min(1.0, t + 0.1), g, e, weights) >= score - 1e-12


@pytest.mark.parametrize(
    ("used", "budget", "fraction", "expected"),
    [
        (500, 1000, 1.0, 1.0),
        (1000, 1000, 1.0, 1.0),
        (2000, 1000, 1.0, 0.5),
        (10000, 1000, 1.0, 0.1),
        (400, 1000, 0.5, 1.0),
        (5000, 1000, 0.5, 0.1),  # ratio 5, knee 0.5 -> 0.5/5
        (123, None, 1.0, 1.0),
        (0, 1000, 1.0, 1.0),
    ],
)
def test_budget_efficiency(
    used: float, budget: float | None, fraction: float, expected: float
) -> None:
    assert budget_efficiency(used, budget, fraction) == pytest.approx(expected)


def test_budget_efficiency_is_continuous_at_the_knee_and_decreasing() -> None:
    assert budget_efficiency(1000.0001, 1000) == pytest.approx(1.0)
    values = [budget_efficiency(u, 100) for u in range(100, 1000, 50)]
    assert values == sorted(values, reverse=True)


def test_case_efficiency_averages_the_budgets_that_are_set() -> None:
    assert case_efficiency(2000, 100, 1000, 1000.0) == pytest.approx(0.75)
    assert case_efficiency(2000, 100, 1000, None) == pytest.approx(0.5)
    assert case_efficiency(2000, 4000, None, 1000.0) == pytest.approx(0.25)
    assert case_efficiency(10**9, 10**9, None, None) == 1.0


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (1.0, "log_only"),
        (0.85, "log_only"),
        (0.849, "tune_lightly"),
        (0.70, "tune_lightly"),
        (0.699, "rewrite"),
        (0.50, "rewrite"),
        (0.499, "redesign"),
        (0.0, "redesign"),
    ],
)
def test_judge_bands(score: float, band: str) -> None:
    assert Thresholds().band(score) == band


def test_fitness_config_defaults_and_weights_forms() -> None:
    config = FitnessConfig()
    assert config.weights.as_tuple() == (0.5, 0.25, 0.25)
    assert config.objectives == ["quality", "tokens", "latency"]
    assert config.score(0.8, 1.0, 0.5) == pytest.approx(0.775)
    listed = FitnessConfig.model_validate({"weights": [0.6, 0.2, 0.2]})
    assert listed.score(0.5, 0.5, 1.0) == pytest.approx(0.6)
    named = FitnessConfig.model_validate(
        {"weights": {"test_rate": 0.6, "gates": 0.2, "efficiency": 0.2}}
    )
    assert named == listed
    assert FitnessConfig.model_validate(config.model_dump(mode="json")) == config


@pytest.mark.parametrize(
    "data",
    [
        {"weights": [0.5, 0.5, 0.5]},
        {"weights": [0.5, 0.5]},
        {"weights": {"test_rate": 1.0, "gates": 0, "efficency": 0}},
        {"formula": "other"},
        {"objectives": ["quality", "quality"]},
        {"objectives": ["speed"]},
        {"objectives": []},
        {"thresholds": {"log_only": 0.6, "tune_lightly": 0.7}},
        {"budget_fraction": 0},
        {"weigths": [1, 0, 0]},
    ],
)
def test_fitness_config_refuses_bad_settings(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FitnessConfig.model_validate(data)


def test_oriented_objectives_negate_minimised_ones() -> None:
    config = FitnessConfig(objectives=["quality", "tokens", "latency", "cost"])
    raw = {"quality": 0.9, "tokens": 120.0, "latency": 33.0, "cost": 0.01, "fitness": 0.8}
    assert config.oriented(raw) == (0.9, -120.0, -33.0, -0.01)
