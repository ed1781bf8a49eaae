"""Steps that run or promote other pipelines: ``pipeline`` and ``conditional_deploy``.

``pipeline`` runs a nested pipeline, inline (``pipeline:``) or from
``pipeline_file`` (relative to the runtime's ``base_dir``, confined to it),
one level deeper; the run's ``max_depth`` (and the step's ``config.max_depth``)
bound the nesting. Its ``inputs`` are resolved in the parent's scope; with
``config.inherit_context`` the nested pipeline also sees the parent's
``global_vars`` and, when no inputs are given, the parent's inputs (pipeline_ex's
rules). Steps inside count against the run's limits and their usage against
this step. The result is ``{step name: result}`` of every nested step, or, with
``outputs``, the selected ones: a step name, or ``{path: "step.result.field",
as: NAME}``. A missing output fails the step. ``pipeline_ref`` is not
supported (evofarm has no pipeline registry): it fails clearly.

``config``: ``timeout_seconds`` is the step's own wall limit (it can only lower
the run's ``step_timeout_s``; see :mod:`evofarm.pipeline.step_policy`);
``max_retries`` reruns a failed nested pipeline that many times (each attempt's
steps count against ``max_steps``); with ``continue_on_error`` a nested
pipeline that still fails gives ``{"success": false, "error": MESSAGE}`` and the
parent goes on (pipeline_ex's error-recovery pattern:
``condition: "{{steps.NAME.error != null}}"``). A limit breach is never retried
or swallowed. ``max_total_steps`` caps the step executions inside the nested
pipeline (nested ones included; ``LimitExceeded`` ``max_total_steps``), on top of
the run's ``max_steps``. ``workspace_enabled: true`` runs it in a private
workspace, ``WORKSPACE/nested_workspaces/STEP`` (the parent's workspace stays
readable); unset or false it shares the run's workspace (pipeline_ex's default is
a private one, evofarm keeps one workspace unless asked). With a private
workspace, ``cleanup_on_error`` (default true, as in pipeline_ex) removes it when
an attempt fails; false keeps it for inspection. Iterations of a parallel loop
running the same nested step share its private workspace.

``conditional_deploy`` (META-PIPELINE) promotes a pipeline produced earlier: its
``condition`` is evaluated like any step condition (false: skipped),
``pipeline_source`` (a template or ``STEP[.path]`` giving YAML text or pipeline
data) must load and validate, and its canonical YAML is written to ``target``
inside the workspace. Result: ``{"deployed": true, "target", "pipeline", "steps"}``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from typing import Any, Final

from evofarm.errors import ExecutionError, LimitExceeded, StepFailed, UserInputError
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.loader import (
    dump_pipeline,
    load_pipeline,
    load_pipeline_text,
    pipeline_from_data,
)
from evofarm.pipeline.runtime import Runtime
from evofarm.pipeline.schema import ConditionalDeployStep, NestedOutput, Pipeline, PipelineStep
from evofarm.pipeline.scope import MISSING, step_field
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.pipeline.steps.control import resolve_source
from evofarm.pipeline.steps.jsonout import parse_json
from evofarm.pipeline.workspace import confine, confine_read, write_text

NESTED_WORKSPACES: Final = "nested_workspaces"
"""Directory of the workspace holding private nested workspaces (pipeline_ex's name)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _nested_pipeline(step: PipelineStep, ctx: StepContext) -> Pipeline:
    if step.pipeline is not None:
        return step.pipeline
    if step.pipeline_file:
        raw = ctx.render(step.pipeline_file).strip()
        runtime = ctx.runtime
        path = confine_read(
            raw,
            runtime.base_dir,
            also=runtime.read_roots,
            listed=runtime.read_files,
            what="pipeline_file",
        )
        try:
            return load_pipeline(path)
        except UserInputError as exc:
            raise StepFailed(f"nested pipeline: {exc}") from None
    raise StepFailed(
        f"pipeline_ref {step.pipeline_ref!r}: named pipeline references are not supported"
    )


def _private_runtime(step: PipelineStep, ctx: StepContext) -> Runtime | None:
    """The nested run's own runtime with ``config.workspace_enabled``, else None."""
    if not (step.config and step.config.workspace_enabled):
        return None
    parent = ctx.runtime
    name = _UNSAFE.sub("_", step.name)[:100] or "nested"
    private = parent.workspace / NESTED_WORKSPACES / name
    try:
        private.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StepFailed(f"cannot create the nested workspace: {exc.strerror}") from None
    # The parent's workspace stays readable (files it wrote for the nested pipeline).
    return replace(parent, workspace=private, read_roots=(*parent.read_roots, parent.workspace))


def _cleanup(step: PipelineStep, runtime: Runtime | None) -> None:
    """Remove a failed nested run's private workspace (``config.cleanup_on_error``)."""
    if runtime is None or (step.config and step.config.cleanup_on_error is False):
        return
    shutil.rmtree(runtime.workspace, ignore_errors=True)


def pipeline_step(step: PipelineStep, ctx: StepContext) -> Any:
    """Run the nested pipeline (with ``config.max_retries`` / ``continue_on_error``)."""
    config = step.config
    retries = (config.max_retries or 0) if config else 0
    attempt = 0
    while True:
        runtime = _private_runtime(step, ctx)
        try:
            return _run_once(step, ctx, runtime)
        except LimitExceeded:
            _cleanup(step, runtime)
            raise  # limits protect the farm: never retried or swallowed
        except ExecutionError as exc:
            _cleanup(step, runtime)
            attempt += 1
            if attempt <= retries:
                ctx.meter.record_retry(f"attempt {attempt}: {exc}")
                continue
            if config is None or not config.continue_on_error:
                raise
            ctx.meter.record_error(str(exc))
            return {"success": False, "error": str(exc)}


def _run_once(step: PipelineStep, ctx: StepContext, runtime: Runtime | None) -> Any:
    """One run of the nested pipeline; its (selected) results."""
    nested = _nested_pipeline(step, ctx)
    inherit = bool(step.config and step.config.inherit_context)
    inputs: dict[str, Any] = dict(ctx.frame.inputs) if inherit else {}
    if step.inputs:
        inputs = ctx.resolve(step.inputs)
    max_depth = step.config.max_depth if step.config else None
    max_steps = step.config.max_total_steps if step.config else None
    frame = ctx.run_nested(
        nested, inputs, inherit=inherit, max_depth=max_depth, runtime=runtime, max_steps=max_steps
    )
    if not step.outputs:
        return {name: record.result for name, record in frame.records.items()}
    selected: dict[str, Any] = {}
    for output in step.outputs:
        if isinstance(output, NestedOutput):
            path, name = output.path, output.as_ or output.path
        else:
            path, name = output, output
        segments = path.split(".")
        record = frame.records.get(segments[0])
        value = MISSING if record is None else step_field(record, segments[1:])
        if value is MISSING:
            raise StepFailed(f"Output {path!r} not found in the nested pipeline's results")
        selected[name] = value
    return selected


def _candidate(source: Any, ctx: StepContext) -> Pipeline:
    try:
        if isinstance(source, dict):
            return pipeline_from_data(source, source="pipeline_source")
        if isinstance(source, str):
            text = source.strip()
            if text.startswith("```"):
                # A model's answer often fences the YAML; the fence is not part of it.
                text = "\n".join(line for line in text.splitlines() if not line.startswith("```"))
            if text.startswith("{"):
                return _candidate(parse_json(text), ctx)
            return load_pipeline_text(text, source="pipeline_source")
    except UserInputError as exc:
        raise StepFailed(f"the pipeline to deploy is invalid: {exc}") from None
    raise StepFailed(f"pipeline_source gave {type(source).__name__}, not pipeline YAML or data")


def conditional_deploy(step: ConditionalDeployStep, ctx: StepContext) -> Any:
    """Write the produced pipeline's canonical YAML to ``target`` in the workspace."""
    candidate = _candidate(resolve_source(step.pipeline_source, ctx, "pipeline_source"), ctx)
    target = confine(ctx.render(step.target).strip(), ctx.runtime.workspace, what="target")
    write_text(target, dump_pipeline(candidate))
    return {
        "deployed": True,
        "target": str(target.relative_to(ctx.runtime.workspace.resolve())),
        "pipeline": candidate.name,
        "steps": len(candidate.steps),
    }


register_step_type(StepType("pipeline", PipelineStep, pipeline_step))
register_step_type(StepType("conditional_deploy", ConditionalDeployStep, conditional_deploy))
