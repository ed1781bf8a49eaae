"""Scoring: the judge's formula, efficiency, objectives and the fitness config.

The default fitness is the judge's formula::

    fitness = test_rate * w_t + gates * w_g + efficiency * w_e     (0.5, 0.25, 0.25)

* ``test_rate``: case-weighted mean of each case's share of checks passed.
* ``gates``: case-weighted mean of each case's share of required checks
  passed; a case with no required checks gates on its run completing (1 or
  0), so a run that crashes never passes a gate.
* ``efficiency``: case-weighted mean of per-case efficiency (below); a case
  whose run failed has efficiency 0 (it burnt budget for nothing).

Per-case efficiency is the mean of the token and time terms for whichever
budgets the suite sets (1.0 when it sets none). Each term is
:func:`budget_efficiency`: with ``r = used / budget`` and the knee ``f``
(``FitnessConfig.budget_fraction``, default 1.0)::

    e(r) = 1.0      if r <= f
    e(r) = f / r    otherwise      (twice the knee scores 0.5, ten times 0.1)

It is flat under the knee on purpose: a pipeline within budget is not
penalised for machine-dependent timing noise, which keeps seeded campaigns
reproducible; the ``tokens``/``latency`` objectives carry the finer pressure.

Weights must be non-negative and sum to 1, so scores stay in [0, 1] and the
judge's thresholds keep their meaning.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evofarm.fitness.errors import FitnessInputError

DEFAULT_WEIGHTS: tuple[float, float, float] = (0.5, 0.25, 0.25)

ObjectiveName = Literal["quality", "fitness", "tokens", "latency", "cost", "size"]
"""``size`` describes the genome, not its evaluation: selection supplies it."""

#: Direction of each objective: +1 maximised, -1 minimised.
OBJECTIVE_DIRECTIONS: dict[str, int] = {
    "quality": 1,
    "fitness": 1,
    "tokens": -1,
    "latency": -1,
    "cost": -1,
    "size": -1,
}

Band = Literal["log_only", "tune_lightly", "rewrite", "redesign"]


def _default_objectives() -> list[ObjectiveName]:
    return ["quality", "tokens", "latency"]


def _unit(name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def _check_weights(weights: tuple[float, float, float]) -> None:
    if len(weights) != 3 or any(w < 0 or math.isnan(w) for w in weights):
        raise ValueError(f"weights must be three non-negative numbers, got {weights}")
    if not math.isclose(sum(weights), 1.0, abs_tol=1e-9):
        raise ValueError(f"weights must sum to 1, got {weights} (sum {sum(weights)})")


def judge_fitness(
    test_rate: float,
    gates: float,
    efficiency: float,
    weights: tuple[float, float, float] = DEFAULT_WEIGHTS,
) -> float:
    """The judge's formula ``test_rate*w0 + gates*w1 + efficiency*w2``.

    Raises:
        ValueError: a term outside [0, 1], or weights negative or not summing to 1.
    """
    _unit("test_rate", test_rate)
    _unit("gates", gates)
    _unit("efficiency", efficiency)
    _check_weights(weights)
    score = test_rate * weights[0] + gates * weights[1] + efficiency * weights[2]
    # Float sums like 0.5+0.25+0.25 can land a hair above 1.
    return min(1.0, max(0.0, score))


def budget_efficiency(used: float, budget: float | None, fraction: float = 1.0) -> float:
    """One efficiency term: 1.0 up to ``fraction * budget``, then ``fraction / (used/budget)``.

    ``budget=None`` means no budget: 1.0.
    """
    if budget is None:
        return 1.0
    if budget <= 0 or fraction <= 0:
        raise FitnessInputError("budget and fraction must be positive")
    ratio = max(0.0, used) / budget
    return 1.0 if ratio <= fraction else fraction / ratio


def case_efficiency(
    tokens: float,
    time_ms: float,
    tokens_budget: int | None,
    time_budget_ms: float | None,
    fraction: float = 1.0,
) -> float:
    """Mean of the token and time terms over the budgets that are set (1.0 if none)."""
    terms = []
    if tokens_budget is not None:
        terms.append(budget_efficiency(tokens, tokens_budget, fraction))
    if time_budget_ms is not None:
        terms.append(budget_efficiency(time_ms, time_budget_ms, fraction))
    return sum(terms) / len(terms) if terms else 1.0


class FitnessWeights(BaseModel):
    """Weights of the judge formula's three terms (non-negative, summing to 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    test_rate: float = Field(default=0.5, ge=0)
    gates: float = Field(default=0.25, ge=0)
    efficiency: float = Field(default=0.25, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_sequence(cls, data: Any) -> Any:
        if isinstance(data, (list, tuple)):
            if len(data) != 3:
                raise ValueError("weights as a list must have three numbers")
            return {"test_rate": data[0], "gates": data[1], "efficiency": data[2]}
        return data

    @model_validator(mode="after")
    def _sum_to_one(self) -> FitnessWeights:
        _check_weights(self.as_tuple())
        return self

    def as_tuple(self) -> tuple[float, float, float]:
        """(test_rate, gates, efficiency)."""
        return (self.test_rate, self.gates, self.efficiency)


class Thresholds(BaseModel):
    """The judge's score bands, for the tuning loop.

    ``score >= log_only``: log only; ``>= tune_lightly``: tune the prompt
    lightly; ``>= redesign``: rewrite it; below ``redesign``: redesign the step.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    log_only: float = Field(default=0.85, ge=0, le=1)
    tune_lightly: float = Field(default=0.70, ge=0, le=1)
    redesign: float = Field(default=0.50, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.redesign <= self.tune_lightly <= self.log_only:
            raise ValueError("thresholds must satisfy redesign <= tune_lightly <= log_only")
        return self

    def band(self, score: float) -> Band:
        """The action band for ``score``."""
        if score >= self.log_only:
            return "log_only"
        if score >= self.tune_lightly:
            return "tune_lightly"
        if score >= self.redesign:
            return "rewrite"
        return "redesign"


class FitnessConfig(BaseModel):
    """How evaluations are scored; embedded in the campaign spec as ``fitness:``.

    Attributes:
        formula: the scoring formula; ``judge`` is the judge's weighted sum.
        weights: the formula's weights.
        budget_fraction: the efficiency knee (see module docs).
        objectives: the vector handed to multi-objective selection, in order.
        thresholds: the judge's action bands.
        judge_model: model of ``llm_judge`` checks that name none (the judge
            provider itself is passed to ``evaluate_pipeline``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    formula: Literal["judge"] = "judge"
    weights: FitnessWeights = Field(default_factory=FitnessWeights)
    budget_fraction: float = Field(default=1.0, gt=0)
    objectives: list[ObjectiveName] = Field(default_factory=_default_objectives, min_length=1)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    judge_model: str = Field(default="haiku", min_length=1)

    @field_validator("objectives")
    @classmethod
    def _unique(cls, value: list[ObjectiveName]) -> list[ObjectiveName]:
        if len(set(value)) != len(value):
            raise ValueError("objectives must not repeat")
        return value

    def score(self, test_rate: float, gates: float, efficiency: float) -> float:
        """The configured formula applied to the three terms."""
        return judge_fitness(test_rate, gates, efficiency, self.weights.as_tuple())

    def oriented(
        self, objectives: dict[str, float], *, size: int | None = None
    ) -> tuple[float, ...]:
        """The configured objectives in order, negated where minimised (higher is better).

        Args:
            objectives: an evaluation's objectives.
            size: the genome's structural size (steps plus transform ops), for
                the ``size`` objective (parsimony as an NSGA-II objective).

        Raises:
            KeyError: an evaluation lacks a configured objective, or ``size``
                is configured and not given.
        """
        values = dict(objectives)
        if size is not None:
            values["size"] = float(size)
        return tuple(OBJECTIVE_DIRECTIONS[name] * values[name] for name in self.objectives)
