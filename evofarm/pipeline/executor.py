"""Running a pipeline: :func:`run_pipeline` returns a :class:`RunTrace`.

For each step, in order: check the run deadline, evaluate ``condition`` (a
false condition records the step as skipped with the reason, as pipeline_ex
does), count the step against ``max_steps``, run its implementation (see
:mod:`evofarm.pipeline.steps.registry`) under the step's wall-time limit,
check the size of its result, write ``output_to_file`` inside the workspace and
record the result so later steps can reference it.

The pipeline's own bounds tighten the runtime's (:func:`effective_limits`):
``resource_limits.max_total_steps`` and ``max_execution_time_s``,
``defaults.timeout_seconds``; a step's own wall limit
(:func:`~evofarm.pipeline.step_policy.own_timeout_s`) lowers
``step_timeout_s`` for that step. A step's ``output_schema`` is checked against its
result (JSON text is parsed first) with jsonschema.

Failures: a step that raises an :class:`~evofarm.errors.ExecutionError`
(``StepFailed``, ``TemplateError``, ``ConditionError``, ``LimitExceeded``) ends
the run; the trace says ``status="failed"`` with the error, the top-level step
it happened in and, for a limit, which one. Provider, sandbox and budget errors
are infrastructure faults, not the candidate's: they propagate to the caller,
which retries. Anything else is a bug and propagates too. With
``defaults.continue_on_error`` a failed step (not a limit breach) is recorded as
failed and the run goes on.

Wall time: a step that can block (LLM calls, loops, nested pipelines, files,
python) runs on a daemon thread the executor waits on for at most
``min(step_timeout_s, time left in the run)``. A step that overruns is reported
as ``LimitExceeded`` at once; its thread cannot be killed and is abandoned (its
late results are ignored). Bounded local steps (registered with
``StepType.inline``: their inputs and regexes are capped) run on the calling
thread, which is several times cheaper, and an overrun is reported when they
return. Hard isolation (killing runaway code) is the sandbox's job.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from evofarm.errors import ExecutionError, LimitExceeded, ProviderConfigError, StepFailed
from evofarm.pipeline import conditions
from evofarm.pipeline.context import Frame, RunShared, StepBudget, StepContext
from evofarm.pipeline.runtime import RunLimits, Runtime
from evofarm.pipeline.schema import Pipeline, StepBase, WhileLoopStep
from evofarm.pipeline.scope import StepRecord
from evofarm.pipeline.step_policy import own_timeout_s
from evofarm.pipeline.steps import jsonout
from evofarm.pipeline.steps.loop_control import LoopSignal
from evofarm.pipeline.steps.registry import get_step_type
from evofarm.pipeline.trace import RunTrace, StepTrace, Usage, UsageMeter
from evofarm.pipeline.workspace import as_file_text, confine, write_text

T = TypeVar("T")


def run_pipeline(
    pipeline: Pipeline, inputs: Mapping[str, Any] | None = None, *, runtime: Runtime
) -> RunTrace:
    """Run ``pipeline`` with ``inputs`` and return its trace.

    ``inputs`` override the defaults the pipeline declares under ``inputs:``.
    The workspace directory is created if missing.

    Raises:
        ProviderError: a provider failed for infrastructure reasons (retryable).
        SandboxError, BudgetExceeded: likewise raised by runners and providers.
    """
    try:
        providers = runtime.providers.with_overrides(pipeline.providers)
    except ProviderConfigError as exc:
        # The mapping is part of the pipeline: a bad one fails the run, not the farm.
        return RunTrace(
            pipeline=pipeline.name,
            status="failed",
            error=str(exc),
            error_type="ProviderConfigError",
        )
    runtime.workspace.mkdir(parents=True, exist_ok=True)
    runtime = replace(runtime, limits=effective_limits(pipeline, runtime.limits))
    shared = RunShared(runtime, providers)
    frame = Frame(
        pipeline=pipeline,
        inputs={**(pipeline.inputs or {}), **dict(inputs or {})},
        global_vars=dict(pipeline.global_vars or {}),
        providers=providers,
    )
    trace = RunTrace(pipeline=pipeline.name, status="completed")
    engine = _Engine()
    for step in pipeline.steps:
        try:
            step_trace = engine.run_top_step(step, frame, shared)
        except ExecutionError as exc:
            trace.status = "failed"
            trace.error = str(exc)
            trace.error_step = step.name
            trace.error_type = type(exc).__name__
            trace.limit = exc.limit if isinstance(exc, LimitExceeded) else None
            if engine.failed is not None:
                trace.steps[step.name] = engine.failed
            break
        trace.steps[step.name] = step_trace
        if step_trace.status == "completed":
            trace.output = step_trace.result
    trace.usage = _totals(trace, time.monotonic() - shared.started)
    return trace


def effective_limits(pipeline: Pipeline, limits: RunLimits) -> RunLimits:
    """``limits`` tightened by the pipeline's own ``resource_limits`` and
    ``defaults.timeout_seconds`` (a pipeline can lower a limit, never raise it)."""
    update: dict[str, Any] = {}
    own = pipeline.resource_limits
    if own is not None and own.max_total_steps is not None:
        update["max_steps"] = min(limits.max_steps, own.max_total_steps)
    if own is not None and own.max_execution_time_s is not None:
        update["run_timeout_s"] = min(limits.run_timeout_s, float(own.max_execution_time_s))
    defaults = pipeline.defaults
    if defaults is not None and defaults.timeout_seconds is not None:
        update["step_timeout_s"] = min(limits.step_timeout_s, float(defaults.timeout_seconds))
    return limits.model_copy(update=update) if update else limits


def _totals(trace: RunTrace, elapsed_s: float) -> Usage:
    steps = trace.steps.values()
    return Usage(
        input_tokens=sum(s.input_tokens for s in steps),
        output_tokens=sum(s.output_tokens for s in steps),
        cost_usd=sum(s.cost_usd for s in steps),
        llm_calls=sum(s.llm_calls for s in steps),
        duration_ms=elapsed_s * 1000.0,
    )


def _call_with_timeout(
    fn: Callable[[], T],
    shared: RunShared,
    step: str,
    own_s: float | None = None,
    *,
    inline: bool = False,
) -> T:
    """Run ``fn`` within the step's time budget: ``step_timeout_s`` (lowered by the
    step's own limit ``own_s``), or the time left in the run if that is shorter.
    On a daemon thread waited on for at most the budget, or, with ``inline``, on
    this thread with the budget checked when ``fn`` returns."""
    limits = shared.runtime.limits
    step_s = limits.step_timeout_s if own_s is None else min(own_s, limits.step_timeout_s)
    remaining = shared.remaining_s()
    if remaining <= step_s:
        budget, limit, seconds = remaining, "run_timeout_s", limits.run_timeout_s
    else:
        budget, limit, seconds = step_s, "step_timeout_s", step_s
    if budget <= 0:
        raise LimitExceeded(f"run exceeded {seconds}s", limit=limit, step=step)
    what = "step" if limit == "step_timeout_s" else "run"
    if inline:
        started = time.monotonic()
        result = fn()
        if time.monotonic() - started > budget:
            raise LimitExceeded(f"{what} exceeded {seconds}s", limit=limit, step=step)
        return result
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=target, name=f"evofarm-step-{step}", daemon=True)
    try:
        thread.start()
    except RuntimeError:
        # No thread available (e.g. RLIMIT_NPROC in a sandbox): run inline; the
        # deadline is then checked between steps and by the sandbox's own limit.
        return fn()
    if not done.wait(budget):
        raise LimitExceeded(f"{what} exceeded {seconds}s", limit=limit, step=step)
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _check_output_size(result: Any, shared: RunShared, step: str) -> None:
    limit = shared.runtime.limits.max_output_bytes
    try:
        size = len(json.dumps(result, ensure_ascii=False, default=str).encode())
    except (TypeError, ValueError, RecursionError) as exc:
        raise StepFailed(f"result is not JSON data: {exc}", step) from None
    if size > limit:
        raise LimitExceeded(
            f"result is {size} bytes; the limit is {limit}", limit="max_output_bytes", step=step
        )


class _Engine:
    """Runs steps; implements :class:`~evofarm.pipeline.context.Engine`."""

    def __init__(self) -> None:
        self.failed: StepTrace | None = None

    def run_top_step(self, step: StepBase, frame: Frame, shared: RunShared) -> StepTrace:
        """Run one top-level step and return its trace (the failed trace on error)."""
        meter = UsageMeter()
        started = time.monotonic()
        self.failed = None
        try:
            record = self._run_step(step, frame, shared, loop=None, meter=meter)
        except ExecutionError as exc:
            meter.record_error(str(exc))
            self.failed = _step_trace(step, StepRecord(None, "failed"), meter, started)
            raise
        return _step_trace(step, record, meter, started)

    def run_steps(
        self,
        steps: Sequence[StepBase],
        frame: Frame,
        shared: RunShared,
        *,
        loop: Mapping[str, Any] | None,
        meter: UsageMeter,
    ) -> None:
        """Run ``steps`` in ``frame``; the first failure propagates."""
        for step in steps:
            self._run_step(step, frame, shared, loop=loop, meter=meter)

    def run_nested(
        self,
        pipeline: Pipeline,
        inputs: dict[str, Any],
        shared: RunShared,
        *,
        parent: Frame,
        inherit: bool,
        step: str,
        max_depth: int | None,
        meter: UsageMeter,
        runtime: Runtime | None = None,
        max_steps: int | None = None,
    ) -> Frame:
        """Run a nested pipeline one level below ``parent``; its finished frame."""
        depth = parent.depth + 1
        limit = shared.runtime.limits.max_depth
        if max_depth is not None:
            limit = min(limit, max_depth)
        if depth > limit:
            raise LimitExceeded(
                f"nested pipeline {pipeline.name!r} would be at depth {depth}; "
                f"the limit is {limit}",
                limit="max_depth",
                step=step,
            )
        global_vars = dict(parent.global_vars) if inherit else {}
        global_vars.update(pipeline.global_vars or {})
        try:
            providers = (parent.providers or shared.providers).with_overrides(pipeline.providers)
        except ProviderConfigError as exc:
            raise StepFailed(str(exc), step) from None
        frame = Frame(
            pipeline=pipeline,
            inputs={**(pipeline.inputs or {}), **inputs},
            global_vars=global_vars,
            depth=depth,
            providers=providers,
            runtime=runtime or parent.runtime,
            budgets=(
                (*parent.budgets, StepBudget(max_steps, step))
                if max_steps is not None
                else parent.budgets
            ),
        )
        self.run_steps(pipeline.steps, frame, shared, loop=None, meter=meter)
        return frame

    def _run_step(
        self,
        step: StepBase,
        frame: Frame,
        shared: RunShared,
        *,
        loop: Mapping[str, Any] | None,
        meter: UsageMeter,
    ) -> StepRecord:
        shared.check_deadline(step.name)
        ctx = StepContext(step, frame, shared, self, loop=loop, meter=meter)
        # A while_loop's condition is its loop condition, not a skip condition.
        if step.condition is not None and not isinstance(step, WhileLoopStep):
            try:
                holds = ctx.holds(step.condition)
            except ExecutionError as exc:
                raise type(exc)(exc.message, step.name) from None
            if not holds:
                reason = f"Condition not met: {conditions.describe(step.condition)}"
                record = StepRecord(None, "skipped", reason)
                frame.records[step.name] = record
                return record
        shared.count_step(step.name)
        for budget in frame.budgets:
            budget.count(step.name)
        registered = get_step_type(step)
        impl = registered.impl
        try:
            own_s = own_timeout_s(step, frame.pipeline.defaults)
            result = _call_with_timeout(
                lambda: impl(step, ctx),
                shared,
                step.name,
                own_s,
                inline=registered.inline,
            )
            _check_output_size(result, shared, step.name)
            if step.output_schema is not None:
                _check_output_schema(result, step.output_schema)
            if step.output_to_file:
                self._write_output(step, ctx, result)
        except LoopSignal:
            raise  # break/continue: control flow for the enclosing loop, not a failure
        except ExecutionError as exc:
            named = exc if exc.step is not None else _with_step(exc, step.name)
            if _continues_on_error(frame, exc):
                # pipeline_ex's defaults.continue_on_error: record and go on.
                meter.record_error(str(named))
                record = StepRecord(None, "failed")
                frame.records[step.name] = record
                return record
            if named is exc:
                raise
            raise named from None
        record = StepRecord(result)
        frame.records[step.name] = record
        return record

    @staticmethod
    def _write_output(step: StepBase, ctx: StepContext, result: Any) -> None:
        assert step.output_to_file is not None
        name = ctx.render(step.output_to_file).strip()
        path = confine(name, ctx.runtime.workspace, what="output_to_file")
        write_text(path, as_file_text(result))


def _continues_on_error(frame: Frame, exc: ExecutionError) -> bool:
    defaults = frame.pipeline.defaults
    # Limits protect the farm: a pipeline cannot opt out of them.
    return bool(defaults and defaults.continue_on_error) and not isinstance(exc, LimitExceeded)


def _check_output_schema(result: Any, schema: dict[str, Any]) -> None:
    value = result
    if isinstance(result, str):
        try:
            value = jsonout.parse_json(result)
        except StepFailed:
            value = result  # a plain-text result is checked as a string
    jsonout.validate(value, jsonout.to_json_schema(schema))


def _with_step(exc: ExecutionError, step: str) -> ExecutionError:
    """A copy of ``exc`` naming ``step`` (same class, same limit)."""
    if isinstance(exc, LimitExceeded):
        return LimitExceeded(exc.message, limit=exc.limit, step=step)
    try:
        return type(exc)(exc.message, step)
    except TypeError:  # a subclass with another constructor
        return ExecutionError(exc.message, step)


def _step_trace(step: StepBase, record: StepRecord, meter: UsageMeter, started: float) -> StepTrace:
    return StepTrace(
        name=step.name,
        type=step.type,
        status=record.status,
        result=record.result,
        skipped=record.status == "skipped",
        skip_reason=record.skip_reason,
        duration_ms=(time.monotonic() - started) * 1000.0,
        input_tokens=meter.input_tokens,
        output_tokens=meter.output_tokens,
        cost_usd=meter.cost_usd,
        llm_calls=meter.llm_calls,
        retries=meter.retries,
        errors=list(meter.errors),
    )
