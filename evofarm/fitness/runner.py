"""Evaluating one candidate pipeline on a task suite.

:func:`evaluate_pipeline` runs the candidate on the suite's cases (all of
them, or a deterministic subset at lower fidelity), applies each case's
checks and scores the result (:mod:`evofarm.fitness.records`).

Contract:

* **Deterministic subset.** Fidelity ``f`` in (0, 1] keeps the
  ``max(1, ceil(f * n))`` cases whose SHA-256 of the case id is smallest.
  The subsets are nested (a case kept at 0.25 is kept at 0.5) and do not
  depend on the file's order.
* **Order.** Cases may run on a thread pool (``max_workers``); results are
  always in case-id order, so the score never depends on finishing order.
* **Candidate faults are scored, never raised**: an invalid pipeline, a step
  error, a run limit, a sandbox outcome or any unexpected exception from the
  run becomes a failed case (or an ``invalid`` evaluation) with a reason.
* **Infrastructure faults are raised** so the farm retries them:
  :class:`~evofarm.errors.ProviderError`, :class:`~evofarm.errors.SandboxError`,
  :class:`~evofarm.errors.StoreError`, :class:`~evofarm.errors.BudgetExceeded`.

A ``case_runner(pipeline, case)`` returns the run trace (a ``RunTrace`` or
its JSON data). A runner that executes elsewhere (the farm's sandbox) reports
a sandbox outcome such as ``timeout`` by raising :class:`CaseFailed`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from evofarm.errors import (
    BudgetExceeded,
    ExecutionError,
    LimitExceeded,
    PipelineValidationError,
    ProviderConfigError,
    ProviderError,
    SandboxError,
    StoreError,
    UserInputError,
)
from evofarm.fitness.checks import CheckContext, CheckResult, LlmJudgeCheck, run_check
from evofarm.fitness.errors import BadTrace, FitnessInputError
from evofarm.fitness.llm_judge import as_text
from evofarm.fitness.metered import CaseMeter
from evofarm.fitness.parallel import map_in_order
from evofarm.fitness.records import (
    EXCERPT_CHARS,
    MAX_STEP_OUTPUTS,
    STEP_EXCERPT_CHARS,
    CaseResult,
    Evaluation,
    aggregate,
    cap_errors,
    cap_text,
    invalid_evaluation,
)
from evofarm.fitness.scoring import FitnessConfig, case_efficiency
from evofarm.fitness.suite_models import Case, TaskSuite
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.runtime import Runtime
from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.validate import PipelineLimits, validate_pipeline
from evofarm.providers.base import Provider

CaseRunner = Callable[[Pipeline, Case], Any]
"""``(pipeline, case) -> RunTrace | Mapping``: runs one case."""

RuntimeFactory = Callable[[Case], Runtime]
"""``(case) -> Runtime``: a fresh runtime (workspace, providers, limits) per case."""

_INFRASTRUCTURE = (ProviderError, SandboxError, StoreError, BudgetExceeded)


class CaseFailed(ExecutionError):
    """Raised by a case runner when the run ended in a failure class.

    Attributes:
        outcome: the failure class (e.g. ``timeout``, ``memory_limit``).
        trace: whatever partial trace data there is, for tokens and time.
    """

    def __init__(self, outcome: str, message: str, trace: Any = None) -> None:
        self.outcome = outcome
        self.trace = trace
        super().__init__(message)


def select_cases(suite: TaskSuite, fidelity: float) -> list[Case]:
    """The deterministic fidelity subset of ``suite``'s cases, in case-id order.

    Raises:
        FitnessInputError: ``fidelity`` outside (0, 1] (a ``ValueError``).
    """
    if not 0.0 < fidelity <= 1.0:
        raise FitnessInputError(f"fidelity must be in (0, 1], got {fidelity}")
    count = max(1, math.ceil(fidelity * len(suite.cases) - 1e-9))
    ranked = sorted(suite.cases, key=lambda c: (hashlib.sha256(c.id.encode()).digest(), c.id))
    return sorted(ranked[:count], key=lambda c: c.id)


def trace_view(raw: Any) -> dict[str, Any]:
    """A run trace as the plain mapping checks select paths from."""
    if raw is None:
        return {}
    if hasattr(raw, "model_dump"):
        data = raw.model_dump(mode="json")
    elif isinstance(raw, Mapping):
        data = dict(raw)
    else:
        raise BadTrace(f"a case runner returned {type(raw).__name__}, not a run trace")
    return data if isinstance(data, dict) else {}


def _maybe_num(mapping: Any, key: str) -> float | None:
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _num(mapping: Any, key: str) -> float:
    return _maybe_num(mapping, key) or 0.0


def _step_faults(view: Mapping[str, Any]) -> tuple[int, list[str]]:
    retries = 0
    errors: list[str] = []
    steps = view.get("steps")
    if isinstance(steps, Mapping):
        for name, step in steps.items():
            if not isinstance(step, Mapping):
                continue
            retries += int(_num(step, "retries"))
            step_errors = step.get("errors")
            if isinstance(step_errors, list):
                errors.extend(f"{name}: {e}" for e in step_errors)
    return retries, errors


def _run_failure(exc: BaseException) -> tuple[str, str]:
    """(outcome, reason) for an exception a case run raised."""
    if isinstance(exc, CaseFailed):
        return exc.outcome, str(exc)
    if isinstance(exc, LimitExceeded):
        return "limit_exceeded", str(exc)
    if isinstance(exc, ExecutionError):
        return "candidate_error", str(exc)
    if isinstance(exc, UserInputError):
        return "invalid", str(exc)
    return "crashed", f"{type(exc).__name__}: {exc}"


def _trace_failure(view: Mapping[str, Any]) -> tuple[str, str]:
    """(outcome, reason) of a run whose trace says it failed."""
    if view.get("outcome"):
        outcome = str(view["outcome"])
    elif view.get("error_type") == "LimitExceeded":
        outcome = "limit_exceeded"
    else:
        outcome = "candidate_error"
    message = str(view.get("error") or "run failed")
    if view.get("limit"):
        message = f"{message} (limit {view['limit']})"
    step = view.get("error_step")
    prefix = f"step {step!r}: "
    return outcome, prefix + message if step and not message.startswith(prefix) else message


def _strict(runtime: Runtime) -> Runtime:
    """``runtime`` with strict templates (evaluation never leaves references literal)."""
    return runtime if runtime.strict else dataclasses.replace(runtime, strict=True)


def per_case_runtimes(base: Runtime, workspace_root: Path | None = None) -> RuntimeFactory:
    """A runtime factory giving every case ``base`` with its own workspace directory.

    Cases running concurrently must not share files; each gets
    ``workspace_root / <case key>`` (default root: ``base.workspace``), where the
    key is the case id made filesystem-safe plus a short hash (two ids that
    sanitise alike still get different directories).
    """
    root = workspace_root if workspace_root is not None else base.workspace

    def factory(case: Case) -> Runtime:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", case.id)[:60].lstrip(".") or "case"
        key = f"{safe}-{hashlib.sha256(case.id.encode()).hexdigest()[:8]}"
        return dataclasses.replace(base, workspace=root / key)

    return factory


def default_case_runner(runtime_factory: RuntimeFactory) -> CaseRunner:
    """A runner executing cases in-process with :func:`run_pipeline`, strict templates."""

    def run(pipeline: Pipeline, case: Case) -> Any:
        return run_pipeline(pipeline, dict(case.inputs), runtime=_strict(runtime_factory(case)))

    return run


def _failed_checks(checks: Sequence[Any], reason: str) -> list[CheckResult]:
    return [
        CheckResult(
            type=c.type,
            label=c.display,
            required=c.required,
            passed=False,
            detail=cap_text(f"run failed: {reason}", 300),
        )
        for c in checks
    ]


def run_case(
    pipeline: Pipeline,
    case: Case,
    suite: TaskSuite,
    runner: CaseRunner,
    *,
    config: FitnessConfig,
    judge: Provider | None = None,
    meter: CaseMeter | None = None,
    genome_id: str | None = None,
    sample: int = 0,
) -> CaseResult:
    """Run and check one case. Raises only for infrastructure faults (see module docs).

    ``genome_id`` and ``sample`` reach the checks (:class:`CheckContext`).

    With ``meter``, the case's tokens, cost and latency are the meter's, never
    the trace's (:mod:`evofarm.fitness.metered`).
    """
    started = time.perf_counter()
    outcome, reason = "ok", None
    try:
        raw = runner(pipeline, case)
    except _INFRASTRUCTURE:
        raise
    except Exception as exc:
        outcome, reason = _run_failure(exc)
        raw = exc.trace if isinstance(exc, CaseFailed) else None
    wall_ms = (time.perf_counter() - started) * 1000.0
    try:
        if outcome == "ok" and raw is None:
            raise BadTrace("the case runner returned no trace")
        view = trace_view(raw)
    except TypeError as exc:
        view, outcome, reason = {}, "crashed", str(exc)
    if outcome == "ok" and view.get("status", "completed") != "completed":
        outcome, reason = _trace_failure(view)
    usage = view.get("usage", {})
    if meter is not None:
        metered = meter(case)
        input_tokens, output_tokens = metered.input_tokens, metered.output_tokens
        cost, latency = metered.cost_usd, metered.latency_ms
    else:
        input_tokens = int(_num(usage, "input_tokens"))
        output_tokens = int(_num(usage, "output_tokens"))
        cost = _num(usage, "cost_usd")
        # The run's own duration when it reports one: sandbox start-up is not the candidate's.
        duration = _maybe_num(usage, "duration_ms")
        latency = wall_ms if duration is None else duration
    tokens = input_tokens + output_tokens
    retries, errors = _step_faults(view)
    checks = suite.checks_for(case)
    if outcome == "ok":
        ctx = CheckContext(
            inputs=case.inputs,
            judge=judge,
            judge_model=config.judge_model,
            case_id=case.id,
            genome_id=genome_id,
            sample=sample,
        )
        results = [run_check(c, view, ctx) for c in checks]
        efficiency = case_efficiency(
            tokens,
            latency,
            suite.budgets.tokens_per_case,
            suite.budgets.time_ms_per_case,
            config.budget_fraction,
        )
    else:
        results = _failed_checks(checks, reason or outcome)
        efficiency = 0.0
    return CaseResult(
        case_id=case.id,
        weight=case.weight,
        outcome=outcome,
        reason=cap_text(reason, 300) if reason else None,
        passed_checks=sum(r.passed for r in results),
        total_checks=len(results),
        required_passed=sum(r.passed for r in results if r.required),
        required_total=sum(r.required for r in results),
        tokens=tokens,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=latency,
        cost_usd=cost,
        retries=retries,
        errors=cap_errors(errors),
        efficiency=efficiency,
        output_excerpt=cap_text(as_text(view.get("output")), EXCERPT_CHARS) if view else "",
        checks=results,
        step_outputs=_step_outputs(view) if not all(r.passed for r in results) else {},
    )


def _step_outputs(view: Mapping[str, Any]) -> dict[str, str]:
    """Each top-level step's result, capped (see :attr:`CaseResult.step_outputs`)."""
    steps = view.get("steps")
    if not isinstance(steps, Mapping):
        return {}
    out: dict[str, str] = {}
    for name, step in list(steps.items())[:MAX_STEP_OUTPUTS]:
        if not isinstance(step, Mapping):
            continue
        status = str(step.get("status", ""))
        if step.get("skipped"):
            text = "(skipped)"
        elif status == "failed":
            errors = step.get("errors") or []
            text = f"(failed: {errors[-1] if errors else 'error'})"
        else:
            text = as_text(step.get("result"))
        out[str(name)[:100]] = cap_text(text, STEP_EXCERPT_CHARS)
    return out


def _validation_problem(pipeline: Pipeline, limits: PipelineLimits | None) -> str | None:
    """Why the pipeline cannot run, or ``None``."""
    try:
        validate_pipeline(pipeline, limits)
    except PipelineValidationError as exc:
        return str(exc)
    return None


def evaluate_pipeline(
    pipeline: Pipeline,
    suite: TaskSuite,
    *,
    runtime_factory: RuntimeFactory | None = None,
    fidelity: float = 1.0,
    case_runner: CaseRunner | None = None,
    max_workers: int = 1,
    config: FitnessConfig | None = None,
    genome_id: str | None = None,
    judge: Provider | None = None,
    limits: PipelineLimits | None = None,
    reuse: Sequence[CaseResult] = (),
    meter: CaseMeter | None = None,
    sample: int = 0,
    pool: Executor | None = None,
) -> Evaluation:
    """Evaluate ``pipeline`` on ``suite`` at ``fidelity``.

    Args:
        pipeline: the candidate (validated first; a problem is an ``invalid`` evaluation).
        suite: the task suite.
        runtime_factory: builds the runtime of each case for the default
            in-process runner; required when ``case_runner`` is ``None``.
        fidelity: share of cases to run, in (0, 1] (see module docs).
        case_runner: runs one case elsewhere (e.g. in the sandbox).
        max_workers: cases run at once on a thread pool (1: sequentially).
        pool: a shared executor the cases are queued on instead of a pool of
            ``max_workers`` threads made for this call (its threads serve other
            evaluations too; :func:`~evofarm.fitness.parallel.map_in_order`).
            The result is the same either way.
        config: the fitness config; default :class:`FitnessConfig`.
        genome_id: recorded in the evaluation.
        judge: provider for ``llm_judge`` checks (their default model is
            ``config.judge_model``).
        limits: validation limits (step count, nesting, ...); default limits.
        reuse: case results of this pipeline from an earlier, lower-fidelity
            evaluation (the nursery): cases among them are not run again, their
            results are scored with the new ones.
        meter: the trusted side's usage of each case run; its figures replace
            the traces' in the records, the efficiency and the objectives
            (:mod:`evofarm.fitness.metered`).
        sample: which evaluation of the genome this is (0: the first; see
            :class:`~evofarm.fitness.check_base.CheckContext`), for the checks.

    Returns:
        The evaluation; candidate faults are inside it (``outcome``, ``reason``).

    Raises:
        FitnessInputError: bad ``fidelity``/``max_workers``, or neither runner nor
            factory (a ``ValueError``).
        ProviderConfigError: the suite has ``llm_judge`` checks and no judge was given.
        ProviderError, SandboxError, StoreError, BudgetExceeded: infrastructure.
    """
    config = config or FitnessConfig()
    if max_workers < 1:
        raise FitnessInputError("max_workers must be at least 1")
    cases = select_cases(suite, fidelity)
    if judge is None and any(
        isinstance(c, LlmJudgeCheck) for case in cases for c in suite.checks_for(case)
    ):
        raise ProviderConfigError(
            f"suite {suite.name!r} has llm_judge checks but no judge provider is configured"
        )
    if case_runner is None:
        if runtime_factory is None:
            raise FitnessInputError("evaluate_pipeline needs a runtime_factory or a case_runner")
        case_runner = default_case_runner(runtime_factory)
    problem = _validation_problem(pipeline, limits)
    if problem is not None:
        return invalid_evaluation(
            suite_id=suite.id, fidelity=fidelity, reason=problem, genome_id=genome_id
        )
    runner = case_runner

    def one(case: Case) -> CaseResult:
        return run_case(
            pipeline,
            case,
            suite,
            runner,
            config=config,
            judge=judge,
            meter=meter,
            genome_id=genome_id,
            sample=sample,
        )

    done = {r.case_id: r for r in reuse}
    todo = [c for c in cases if c.id not in done]
    fresh = map_in_order(one, todo, max_workers=max_workers, pool=pool)
    ran = {r.case_id: r for r in fresh}
    results = [done[c.id] if c.id in done else ran[c.id] for c in cases]
    return aggregate(
        results,
        suite_id=suite.id,
        budgets=suite.budgets,
        config=config,
        fidelity=fidelity,
        genome_id=genome_id,
    )
