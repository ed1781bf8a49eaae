"""Evaluation records and their aggregation into a score.

:class:`CaseResult` is one case of one candidate; :class:`Evaluation` is one
candidate on one suite at one fidelity. Both are pydantic models with an
exact JSON round trip (``model_dump(mode="json")`` / ``model_validate``): the
farm stores them in Redis and the history files.

Outcomes (``CaseResult.outcome``, ``Evaluation.outcome``): ``ok``, or the
failure class: ``invalid`` (the pipeline failed validation),
``candidate_error`` (a step failed or raised), ``limit_exceeded`` (a run
limit), or a sandbox outcome passed through (``timeout``, ``memory_limit``,
``cpu_limit``, ``process_limit``, ``output_limit``, ``forbidden``,
``crashed``). An evaluation is ``ok`` when at least one case ran to
completion; otherwise it takes the first failing case's outcome (by case id).

Dimensions (META-PIPELINE), all in [0, 1], higher is better:

* ``output_quality``: the test rate.
* ``execution_speed``: mean per-case time term against the time budget
  (:func:`~evofarm.fitness.scoring.budget_efficiency`), or
  ``1 / (1 + mean_latency_s)`` when the suite sets no time budget.
* ``token_efficiency``: likewise for tokens, or ``1 / (1 + mean_tokens/1000)``.
* ``error_recovery``: of the cases that met an error (a step error, a retry
  or a failed run), the share that still completed; 1.0 when none met one.

Objectives (raw values; directions in
:data:`~evofarm.fitness.scoring.OBJECTIVE_DIRECTIONS`): ``quality`` (test
rate), ``fitness`` (score), ``tokens``, ``latency`` (ms) and ``cost`` (USD),
each a mean per case (the genome's ``size`` objective is added by selection,
:func:`~evofarm.evolution.engine.member_of`). An evaluation whose outcome is not ``ok`` gets
:data:`WORST` for the minimised objectives, so a candidate that crashes
instantly does not look optimal on tokens and latency to NSGA-II.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from evofarm.fitness.checks import CheckResult
from evofarm.fitness.scoring import Band, FitnessConfig, budget_efficiency
from evofarm.fitness.suite_models import Budgets

EXCERPT_CHARS = 500
#: Per-step outputs kept for a case that did not pass (evidence for reflection).
STEP_EXCERPT_CHARS = 240
MAX_STEP_OUTPUTS = 12
MAX_ERRORS = 20
ERROR_CHARS = 300
#: Minimised objectives of a failed evaluation (JSON-safe, unlike infinity).
WORST = 1e12


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cap_errors(errors: Sequence[str]) -> list[str]:
    """At most :data:`MAX_ERRORS` messages of at most :data:`ERROR_CHARS` each."""
    return [cap_text(e, ERROR_CHARS) for e in errors[:MAX_ERRORS]]


class CaseResult(BaseModel):
    """One case of one candidate (``tokens`` is input plus output tokens)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    weight: float = Field(default=1.0, gt=0)
    outcome: str = "ok"
    reason: str | None = None
    passed_checks: int = Field(default=0, ge=0)
    total_checks: int = Field(default=0, ge=0)
    required_passed: int = Field(default=0, ge=0)
    required_total: int = Field(default=0, ge=0)
    tokens: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    latency_ms: float = Field(default=0.0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    retries: int = Field(default=0, ge=0)
    errors: list[str] = Field(default_factory=list)
    efficiency: float = Field(default=0.0, ge=0, le=1)
    output_excerpt: str = ""
    checks: list[CheckResult] = Field(default_factory=list)
    # Each top-level step's result (capped) when a check failed or the run did not
    # complete, in execution order: what a reflective proposer reads.
    step_outputs: dict[str, str] = Field(default_factory=dict, exclude_if=lambda d: not d)

    @property
    def ok(self) -> bool:
        """The run completed (whatever its checks said)."""
        return self.outcome == "ok"

    @property
    def met_error(self) -> bool:
        """Something went wrong during the run, recovered from or not."""
        return not self.ok or self.retries > 0 or bool(self.errors)

    @property
    def check_rate(self) -> float:
        """Share of this case's checks passed (0 for a case without checks)."""
        return self.passed_checks / self.total_checks if self.total_checks else 0.0


class Evaluation(BaseModel):
    """One candidate on one suite at one fidelity.

    ``band`` is the judge's action band for ``score`` under the campaign's
    ``fitness.thresholds`` (log only / tune lightly / rewrite / redesign), set
    by :func:`aggregate`; ``None`` (and left out of the JSON) for a candidate
    that could not be run at all.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    genome_id: str | None = None
    suite_id: str
    fidelity: float = Field(gt=0, le=1)
    cases: list[CaseResult] = Field(default_factory=list)
    tokens: int = Field(default=0, ge=0)
    time_ms: float = Field(default=0.0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    errors: list[str] = Field(default_factory=list)
    test_rate: float = Field(default=0.0, ge=0, le=1)
    gates: float = Field(default=0.0, ge=0, le=1)
    efficiency: float = Field(default=0.0, ge=0, le=1)
    score: float = Field(default=0.0, ge=0, le=1)
    objectives: dict[str, float] = Field(default_factory=dict)
    dimensions: dict[str, float] = Field(default_factory=dict)
    outcome: str = "ok"
    reason: str | None = None
    band: Band | None = Field(default=None, exclude_if=lambda band: band is None)

    @property
    def tests_passed(self) -> int:
        """Checks passed over all cases."""
        return sum(c.passed_checks for c in self.cases)

    @property
    def tests_total(self) -> int:
        """Checks run over all cases."""
        return sum(c.total_checks for c in self.cases)


def _wmean(values: Sequence[float], weights: Sequence[float]) -> float:
    total = sum(weights)
    return sum(v * w for v, w in zip(values, weights, strict=True)) / total if total else 0.0


def _dimension(
    used: Sequence[float],
    budget: float | None,
    fraction: float,
    weights: Sequence[float],
    scale: float,
) -> float:
    if budget is not None:
        return _wmean([budget_efficiency(u, budget, fraction) for u in used], weights)
    mean = sum(used) / len(used) if used else 0.0
    return 1.0 / (1.0 + mean / scale)


def _gate(case: CaseResult) -> float:
    """A case's gates term: share of its required checks passed, else whether it ran."""
    if case.required_total:
        return case.required_passed / case.required_total
    return 1.0 if case.ok else 0.0


def failed_objectives() -> dict[str, float]:
    """Objectives of an evaluation that produced nothing usable."""
    return {"quality": 0.0, "fitness": 0.0, "tokens": WORST, "latency": WORST, "cost": WORST}


def aggregate(
    cases: Sequence[CaseResult],
    *,
    suite_id: str,
    budgets: Budgets,
    config: FitnessConfig,
    fidelity: float,
    genome_id: str | None = None,
) -> Evaluation:
    """Score ``cases`` (already in case-id order) into an :class:`Evaluation`.

    ``time_ms`` is the sum of the case latencies (not the wall time, which
    depends on how many cases ran at once).
    """
    if not cases:
        return invalid_evaluation(
            suite_id=suite_id, fidelity=fidelity, genome_id=genome_id, reason="no cases were run"
        )
    weights = [c.weight for c in cases]
    test_rate = _wmean([c.check_rate for c in cases], weights)
    gates = _wmean([_gate(c) for c in cases], weights)
    efficiency = _wmean([c.efficiency for c in cases], weights)
    score = config.score(min(1.0, test_rate), min(1.0, gates), min(1.0, efficiency))
    n = len(cases)
    tokens = sum(c.tokens for c in cases)
    latency = sum(c.latency_ms for c in cases)
    cost = sum(c.cost_usd for c in cases)
    troubled = [c for c in cases if c.met_error]
    knee = config.budget_fraction
    dimensions = {
        "output_quality": test_rate,
        "execution_speed": _dimension(
            [c.latency_ms for c in cases], budgets.time_ms_per_case, knee, weights, 1000.0
        ),
        "token_efficiency": _dimension(
            [float(c.tokens) for c in cases], budgets.tokens_per_case, knee, weights, 1000.0
        ),
        "error_recovery": sum(c.ok for c in troubled) / len(troubled) if troubled else 1.0,
    }
    first_failure = next((c for c in cases if not c.ok), None)
    if any(c.ok for c in cases):
        outcome, reason = "ok", None
        objectives = {
            "quality": test_rate,
            "fitness": score,
            "tokens": tokens / n,
            "latency": latency / n,
            "cost": cost / n,
        }
    else:
        assert first_failure is not None
        outcome = first_failure.outcome
        reason = f"every case failed; first {first_failure.case_id}: {first_failure.reason}"
        objectives = failed_objectives()
    errors = [
        f"{c.case_id}: {e}" for c in cases for e in ([c.reason] if c.reason else []) + c.errors
    ]
    return Evaluation(
        genome_id=genome_id,
        suite_id=suite_id,
        fidelity=fidelity,
        cases=list(cases),
        tokens=tokens,
        time_ms=latency,
        cost_usd=cost,
        errors=cap_errors(errors),
        test_rate=min(1.0, test_rate),
        gates=min(1.0, gates),
        efficiency=min(1.0, efficiency),
        score=score,
        objectives=objectives,
        dimensions=dimensions,
        outcome=outcome,
        reason=cap_text(reason, ERROR_CHARS) if reason else None,
        band=config.thresholds.band(score),
    )


def invalid_evaluation(
    *,
    suite_id: str,
    fidelity: float,
    reason: str,
    genome_id: str | None = None,
    outcome: str = "invalid",
) -> Evaluation:
    """The evaluation of a candidate that could not be run at all: score 0."""
    return Evaluation(
        genome_id=genome_id,
        suite_id=suite_id,
        fidelity=fidelity,
        objectives=failed_objectives(),
        dimensions={
            "output_quality": 0.0,
            "execution_speed": 0.0,
            "token_efficiency": 0.0,
            "error_recovery": 0.0,
        },
        errors=cap_errors([reason]),
        outcome=outcome,
        reason=cap_text(reason, ERROR_CHARS),
    )
