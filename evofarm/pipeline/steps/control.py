"""Control steps: ``test_echo``, ``set_variable``, ``while_loop``; data sources.

Results follow pipeline_ex:

- ``test_echo``: its resolved ``value``; with ``fail: true`` it fails with its
  ``error_message`` (for testing error handling, as in pipeline_ex).
- ``set_variable``: a mapping of the variables it set to their values (so
  ``previous_response:STEP:NAME`` finds them); the variables are readable as
  ``{{state.NAME}}``, ``{{variables.NAME}}`` or ``{{NAME}}`` by later steps.
- ``for_loop``: see :mod:`evofarm.pipeline.steps.for_loop`.
- ``while_loop``: ``{"success", "iterations", "condition_met"}``; reaching its
  own ``max_iterations`` ends the loop with ``max_iterations_reached: true`` as in
  pipeline_ex (``timeout_seconds`` likewise, with ``timeout_reached``), while the
  run's ``max_loop_iterations`` limit is a failure. A ``break`` step in the body
  ends the loop with ``broken: true``; ``continue`` ends the iteration
  (:mod:`evofarm.pipeline.steps.loop_control`).

Body steps write their records into the enclosing frame, so after a loop the
last iteration's results are visible by step name (pipeline_ex merges them too).
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

from evofarm.errors import LimitExceeded, StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.schema import SetVariableStep, TestEchoStep, WhileLoopStep
from evofarm.pipeline.scope import MISSING, step_field
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.pipeline.steps.loop_control import LoopSignal

DEFAULT_WHILE_ITERATIONS: Final = 100


def test_echo(step: TestEchoStep, ctx: StepContext) -> Any:
    """The step's ``value`` with templates resolved.

    Raises:
        StepFailed: ``fail`` is true (the message is ``error_message``, resolved).
    """
    if step.fail:
        raise StepFailed(ctx.render(step.error_message or "test_echo failed"))
    return ctx.resolve(step.value)


def set_variable(step: SetVariableStep, ctx: StepContext) -> Any:
    """Assign variables; returns ``{name: value}`` of what it set."""
    if step.variables is not None:
        assigned = {name: ctx.resolve(value) for name, value in step.variables.items()}
    else:
        assert step.variable is not None  # the schema requires one of the two forms
        assigned = {step.variable: ctx.resolve(step.value)}
    ctx.frame.variables.update(assigned)
    return assigned


def resolve_source(source: Any, ctx: StepContext, what: str) -> Any:
    """A data source: inline data, a template, ``previous_response:STEP[:path|.path]``,
    ``STEP[.path]``, or a variable name.

    Raises:
        StepFailed: the source does not resolve.
    """
    if not isinstance(source, str):
        return ctx.resolve(source)
    text = source.strip()
    if "{{" in text:
        value = ctx.resolve(text)
        if isinstance(value, str) and "{{" in value:
            raise StepFailed(f"{what} {source!r} does not resolve")
        return value
    spec = text.split(":", 1)[1] if text.startswith("previous_response:") else text
    if not spec:
        raise StepFailed(f"{what} {source!r} names no step")
    segments = [s for s in re.split(r"[.:]", spec) if s]
    head, rest = segments[0], segments[1:]
    if head in ctx.frame.records:
        value = step_field(ctx.frame.records[head], rest)
    elif not text.startswith("previous_response:"):
        value = ctx.scope().lookup(".".join(segments))
    else:
        raise StepFailed(f"{what} {source!r}: step {head!r} not found in results")
    if value is MISSING:
        raise StepFailed(f"{what} {source!r}: field {'.'.join(rest)!r} not found")
    return value


def check_iterations(count: int, ctx: StepContext) -> None:
    limit = ctx.runtime.limits.max_loop_iterations
    if count > limit:
        raise LimitExceeded(
            f"loop would run {count} iterations; the limit is {limit}",
            limit="max_loop_iterations",
            step=ctx.step.name,
        )


def while_loop(step: WhileLoopStep, ctx: StepContext) -> Any:
    """Run the body while the condition holds, at most ``max_iterations`` times."""
    max_iterations = step.max_iterations or DEFAULT_WHILE_ITERATIONS
    deadline = time.monotonic() + step.timeout_seconds if step.timeout_seconds else None
    count = 0
    while True:
        frame: dict[str, Any] = {"iteration": count, "count": count, "index": count}
        if ctx.loop is not None:
            frame["parent"] = dict(ctx.loop)
        if not _holds_in(ctx, step, frame):
            return {"success": True, "iterations": count, "condition_met": False}
        if count >= max_iterations:
            return {
                "success": False,
                "iterations": count,
                "max_iterations_reached": True,
                "reason": "Maximum iterations exceeded",
            }
        if deadline is not None and time.monotonic() >= deadline:
            return {
                "success": False,
                "iterations": count,
                "timeout_reached": True,
                "reason": f"Loop timeout ({step.timeout_seconds}s) reached",
            }
        check_iterations(count + 1, ctx)
        ctx.shared.check_deadline(step.name)
        try:
            ctx.run_steps(step.steps, frame)
        except LoopSignal as signal:
            if signal.kind == "break":
                return {"success": True, "iterations": count + 1, "broken": True}
        count += 1


def _holds_in(ctx: StepContext, step: WhileLoopStep, frame: dict[str, Any]) -> bool:
    inner = StepContext(step, ctx.frame, ctx.shared, ctx.engine, loop=frame, meter=ctx.meter)
    return inner.holds(step.condition)


register_step_type(StepType("test_echo", TestEchoStep, test_echo, inline=True))
register_step_type(StepType("set_variable", SetVariableStep, set_variable, inline=True))
register_step_type(StepType("while_loop", WhileLoopStep, while_loop, bodies=("steps",)))
