"""Control steps: ``test_echo``, ``set_variable``, ``for_loop``, ``while_loop``.

Results follow pipeline_ex:

- ``test_echo``: its resolved ``value``.
- ``set_variable``: a mapping of the variables it set to their values (so
  ``previous_response:STEP:NAME`` finds them); the variables are readable as
  ``{{state.NAME}}``, ``{{variables.NAME}}`` or ``{{NAME}}`` by later steps.
- ``for_loop``: ``{"iterations": [{"index", "item", "success", "results"}],
  "success", "total_items", "completed_items"}``; inside the body the loop
  frame gives ``loop.<iterator>``, ``loop.item``, ``loop.index``, ``loop.total``,
  ``loop.first``, ``loop.last``, ``loop.level``, ``loop.parent`` and the bare
  iterator name. Iterations run in order (``parallel`` is accepted but runs
  sequentially: steps of one iteration may read those before them).
- ``while_loop``: ``{"success", "iterations", "condition_met"}``; reaching its
  own ``max_iterations`` ends the loop with ``max_iterations_reached: true`` as in
  pipeline_ex (``timeout_seconds`` likewise, with ``timeout_reached``), while the
  run's ``max_loop_iterations`` limit is a failure.

Body steps write their records into the enclosing frame, so after a loop the
last iteration's results are visible by step name (pipeline_ex merges them too).
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

from evofarm.errors import ExecutionError, LimitExceeded, StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.schema import ForLoopStep, SetVariableStep, TestEchoStep, WhileLoopStep
from evofarm.pipeline.scope import MISSING, step_field
from evofarm.pipeline.steps.registry import register_step

DEFAULT_WHILE_ITERATIONS: Final = 100


def test_echo(step: TestEchoStep, ctx: StepContext) -> Any:
    """The step's ``value`` with templates resolved."""
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


def _check_iterations(count: int, ctx: StepContext) -> None:
    limit = ctx.runtime.limits.max_loop_iterations
    if count > limit:
        raise LimitExceeded(
            f"loop would run {count} iterations; the limit is {limit}",
            limit="max_loop_iterations",
            step=ctx.step.name,
        )


def for_loop(step: ForLoopStep, ctx: StepContext) -> Any:
    """Run the body once per item of ``data_source``."""
    data = resolve_source(step.data_source, ctx, "data_source")
    if isinstance(data, dict):
        data = [{"key": k, "value": v} for k, v in data.items()]
    if not isinstance(data, list):
        raise StepFailed(f"Data source must resolve to a list, got {type(data).__name__}")
    _check_iterations(len(data), ctx)
    parent = dict(ctx.loop) if ctx.loop is not None else None
    total = len(data)
    iterations: list[dict[str, Any]] = []
    success = True
    for index, item in enumerate(data):
        ctx.shared.check_deadline(step.name)
        frame: dict[str, Any] = {
            step.iterator: item,
            "item": item,
            "index": index,
            "total": total,
            "first": index == 0,
            "last": index == total - 1,
            "level": (parent.get("level", 0) + 1) if parent else 0,
        }
        if parent is not None:
            frame["parent"] = parent
        try:
            ctx.run_steps(step.steps, frame)
        except LimitExceeded:
            raise
        except ExecutionError as exc:
            if step.break_on_error is False:
                success = False
                ctx.meter.record_error(str(exc))
                failure = {"index": index, "item": item, "success": False, "error": str(exc)}
                iterations.append(failure)
                continue
            raise
        iterations.append(
            {
                "index": index,
                "item": item,
                "success": True,
                "results": {s.name: _result_of(ctx, s.name) for s in step.steps},
            }
        )
    return {
        "iterations": iterations,
        "success": success,
        "total_items": total,
        "completed_items": sum(1 for it in iterations if it["success"]),
    }


def _result_of(ctx: StepContext, name: str) -> Any:
    record = ctx.frame.records.get(name)
    return None if record is None else record.result


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
        _check_iterations(count + 1, ctx)
        ctx.shared.check_deadline(step.name)
        ctx.run_steps(step.steps, frame)
        count += 1


def _holds_in(ctx: StepContext, step: WhileLoopStep, frame: dict[str, Any]) -> bool:
    inner = StepContext(step, ctx.frame, ctx.shared, ctx.engine, loop=frame, meter=ctx.meter)
    return inner.holds(step.condition)


register_step("test_echo", test_echo)
register_step("set_variable", set_variable)
register_step("for_loop", for_loop)
register_step("while_loop", while_loop)
