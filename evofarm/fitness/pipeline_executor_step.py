"""The META-PIPELINE ``pipeline_executor`` step: evaluate a produced pipeline on a suite.

The step's model is :class:`~evofarm.pipeline.schema.PipelineExecutorStep`
(``pipeline_source``, ``suite``, ``fidelity``, ``inputs``). Its result is::

    {"fitness": float, "passed": int, "total": int, "reason": str | None,
     "outcome": str}

* ``pipeline_source``: a bare step name (that step's result), a template
  (``{{steps.genesis.result}}``) or literal YAML. The value may be YAML text
  (either pipeline form) or already-parsed pipeline data.
* ``suite``: a suite name resolved in the run's suites directory
  (:attr:`Runtime.suites_dir <evofarm.pipeline.runtime.Runtime.suites_dir>`;
  ``pipelines/suites`` below the working directory when the runtime names
  none); templates allowed. A missing suite fails the step, naming it.
* ``fidelity``: share of the suite's cases, in (0, 1] (default 1.0).
* ``inputs``: extra inputs given to every case (a case's own inputs win).

A produced pipeline that does not load or validate is not a failure of the
meta-pipeline: it scores 0 with the reason, so a genesis loop can go on. A bad
``suite`` or ``fidelity`` *is* the meta-pipeline's fault and fails the step.
In a sandboxed child the runtime carries a ``scorer`` (the pipe to the
worker) and no suite is readable: the step validates the produced pipeline
here, then the worker evaluates it on the named suite (in a sandbox of its
own) and returns only the scores and the usage, which is charged to the step.

The nested runs use the outer run's providers, limits and python runner,
strict templates, a workspace below the outer one and at most the time left in
the outer run; their tokens and cost are added to this step's usage.
Evaluations nest at most :data:`MAX_NESTING` deep (a produced pipeline may
itself contain ``pipeline_executor``).

Registration: this module registers the ``pipeline_executor`` step type when
imported, and the step-type registry names it among its built-in modules (by
module string: ``evofarm.pipeline`` never imports ``evofarm.fitness`` at import
time), so every process that validates or runs a pipeline (CLI, workers, the
sandbox child) has it without any start-up call. :func:`install` remains for
callers that want another default suites directory or fitness config.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path
from typing import Any

from evofarm.errors import Location, StepFailed, SuiteError, UserInputError
from evofarm.fitness.records import Evaluation
from evofarm.fitness.runner import evaluate_pipeline, per_case_runtimes
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import TaskSuite, load_suite, resolve_suite
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.loader import load_pipeline_text, pipeline_from_data, pipeline_to_data
from evofarm.pipeline.runtime import Runtime
from evofarm.pipeline.schema import Pipeline, PipelineExecutorStep
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.pipeline.trace import UsageMeter

DEFAULT_SUITES_DIR = Path("pipelines/suites")
#: How deep evaluations may nest (an evaluated pipeline evaluating another ...).
MAX_NESTING = 2

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _source_value(step: PipelineExecutorStep, ctx: StepContext) -> Any:
    source = step.pipeline_source.strip()
    if _IDENTIFIER.match(source):
        return ctx.record(source).result
    return ctx.resolve(step.pipeline_source)


def _load_candidate(value: Any, step_name: str) -> Pipeline:
    """The produced pipeline; raises UserInputError when it is not one."""
    source = f"<pipeline produced for step {step_name!r}>"
    if isinstance(value, str):
        return load_pipeline_text(value, source)
    if isinstance(value, dict):
        return pipeline_from_data(value, source)
    raise UserInputError(
        f"expected pipeline YAML text or a mapping, got {type(value).__name__}",
        Location(file=source),
    )


def _fidelity(raw: Any, step_name: str) -> float:
    if raw is None:
        return 1.0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise StepFailed(f"fidelity must be a number in (0, 1], got {raw!r}", step_name) from None
    if not 0.0 < value <= 1.0:
        raise StepFailed(f"fidelity must be in (0, 1], got {value}", step_name)
    return value


def with_inputs(suite: TaskSuite, extra: dict[str, Any]) -> TaskSuite:
    if not extra:
        return suite
    cases = [c.model_copy(update={"inputs": {**extra, **c.inputs}}) for c in suite.cases]
    return suite.model_copy(update={"cases": cases})


def _charge(meter: UsageMeter, evaluation: Evaluation) -> None:
    """Add the nested runs' tokens and cost to the step's usage."""
    nested = UsageMeter()
    for case in evaluation.cases:
        nested.input_tokens += case.input_tokens
        nested.output_tokens += case.output_tokens
        nested.cost_usd += case.cost_usd
    meter.add(nested)


def result_of(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "fitness": evaluation.score,
        "passed": evaluation.tests_passed,
        "total": evaluation.tests_total,
        "reason": evaluation.reason,
        "outcome": evaluation.outcome,
    }


def refused(reason: str, outcome: str) -> dict[str, Any]:
    return {"fitness": 0.0, "passed": 0, "total": 0, "reason": reason, "outcome": outcome}


class PipelineExecutor:
    """The ``pipeline_executor`` implementation, with a default suites directory and config.

    The run's :attr:`Runtime.suites_dir <evofarm.pipeline.runtime.Runtime.suites_dir>`,
    when set, wins over ``suites_dir``. Thread-safe: loaded suites are cached by
    resolved path under a lock.
    """

    def __init__(self, suites_dir: Path, config: FitnessConfig) -> None:
        self.suites_dir = suites_dir
        self.config = config
        self._suites: dict[Path, TaskSuite] = {}
        self._lock = threading.Lock()

    def suite(self, name: str, suites_dir: Path | None = None) -> TaskSuite:
        """The named suite in ``suites_dir`` (default: this executor's), loaded once.

        Raises:
            SuiteError: no such suite, or it does not load.
        """
        path = resolve_suite(name, suites_dir if suites_dir is not None else self.suites_dir)
        with self._lock:
            cached = self._suites.get(path)
        if cached is None:
            cached = load_suite(path)
            with self._lock:
                self._suites[path] = cached
        return cached

    def __call__(self, step: Any, ctx: StepContext) -> dict[str, Any]:
        if not isinstance(step, PipelineExecutorStep):
            raise StepFailed(f"not a pipeline_executor step: {type(step).__name__}", step.name)
        name = str(ctx.resolve(step.suite))
        if ctx.runtime.scorer is not None:
            return self._remote(step, ctx, name)
        try:
            suite = with_inputs(
                self.suite(name, ctx.runtime.suites_dir), dict(ctx.resolve(step.inputs or {}))
            )
        except SuiteError as exc:
            raise StepFailed(f"suite {name!r}: {exc}", step.name) from None
        fidelity = _fidelity(ctx.resolve(step.fidelity), step.name)
        outer = ctx.runtime
        depth = outer.evaluation_depth
        if depth >= MAX_NESTING:
            return refused(f"evaluations nest at most {MAX_NESTING} deep", "limit_exceeded")
        try:
            candidate = _load_candidate(_source_value(step, ctx), step.name)
        except UserInputError as exc:
            return refused(str(exc), "invalid")
        remaining = max(0.001, ctx.shared.remaining_s())
        inner = dataclasses.replace(
            outer,
            strict=True,
            evaluation_depth=depth + 1,
            limits=outer.limits.model_copy(
                update={"run_timeout_s": min(outer.limits.run_timeout_s, remaining)}
            ),
        )
        evaluation = self._evaluate(
            candidate, suite, inner=inner, depth=depth, step_name=step.name, fidelity=fidelity
        )
        _charge(ctx.meter, evaluation)
        return result_of(evaluation)

    def _remote(self, step: PipelineExecutorStep, ctx: StepContext, name: str) -> dict[str, Any]:
        """Score through the runtime's scorer (a sandboxed child: no suite is readable here)."""
        scorer = ctx.runtime.scorer
        assert scorer is not None  # checked by the caller
        fidelity = _fidelity(ctx.resolve(step.fidelity), step.name)
        if ctx.runtime.evaluation_depth >= MAX_NESTING:
            return refused(f"evaluations nest at most {MAX_NESTING} deep", "limit_exceeded")
        try:
            candidate = _load_candidate(_source_value(step, ctx), step.name)
        except UserInputError as exc:
            return refused(str(exc), "invalid")
        extra = dict(ctx.resolve(step.inputs or {}))
        reply = scorer(pipeline_to_data(candidate), name, fidelity, extra)
        usage = reply.get("usage") or {}
        nested = UsageMeter()
        nested.input_tokens = int(usage.get("input_tokens", 0))
        nested.output_tokens = int(usage.get("output_tokens", 0))
        nested.cost_usd = float(usage.get("cost_usd", 0.0))
        ctx.meter.add(nested)
        return {k: reply.get(k) for k in ("fitness", "passed", "total", "reason", "outcome")}

    def _evaluate(
        self,
        candidate: Pipeline,
        suite: TaskSuite,
        *,
        inner: Runtime,
        depth: int,
        step_name: str,
        fidelity: float,
    ) -> Evaluation:
        factory = per_case_runtimes(
            inner, inner.workspace / "pipeline_executor" / f"{step_name}-d{depth}"
        )
        return evaluate_pipeline(
            candidate, suite, runtime_factory=factory, fidelity=fidelity, config=self.config
        )


def install(
    *, suites_dir: str | Path = DEFAULT_SUITES_DIR, config: FitnessConfig | None = None
) -> PipelineExecutor:
    """Replace this process's ``pipeline_executor`` implementation (last call wins).

    Not needed to run the step (it is registered on import); a runtime's
    ``suites_dir`` still wins over the one given here.

    Args:
        suites_dir: where suite names are resolved when the runtime names none.
        config: how nested evaluations are scored (default :class:`FitnessConfig`).

    Returns:
        The registered implementation.
    """
    impl = PipelineExecutor(Path(suites_dir), config or FitnessConfig())
    register_step_type(_step_type(impl), replace=True)
    return impl


def _step_type(impl: PipelineExecutor) -> StepType:
    return StepType("pipeline_executor", PipelineExecutorStep, impl)


register_step_type(_step_type(PipelineExecutor(DEFAULT_SUITES_DIR, FitnessConfig())))
