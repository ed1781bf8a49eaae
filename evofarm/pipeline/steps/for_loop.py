"""``for_loop``: run the body once per item of ``data_source`` (pipeline_ex semantics).

Result: ``{"iterations": [{"index", "item", "success", "results" | "error"}],
"success", "total_items", "completed_items"}``, plus ``"parallel": true,
"max_parallel": N`` for a parallel loop and ``"batches_processed"`` when
``batch_size`` is given. Inside the body the loop frame gives
``loop.<iterator>``, ``loop.item``, ``loop.index``, ``loop.total``,
``loop.first``, ``loop.last``, ``loop.level``, ``loop.parent`` and the bare
iterator name. A mapping as data source iterates ``{"key", "value"}`` items.

Options:

- ``parallel: true`` runs iterations concurrently, at most ``max_parallel``
  at once (default 5, capped at 10, as pipeline_ex). Each iteration starts
  from the state before the loop (it cannot see other iterations' results, as
  in pipeline_ex); afterwards the iterations' records and variables are merged
  in index order, so the last iteration's results are visible by step name,
  exactly as after a sequential loop. ``iterations`` are in input order whatever
  order they finished in. Unlike pipeline_ex, which parallelises only lists of
  more than 10 items, ``parallel: true`` always isolates iterations.
- ``batch_size``: items are processed in consecutive batches of that size; a
  batch finishes before the next starts (with ``parallel``, up to
  ``max_parallel`` iterations of one batch run at once).
- ``break_on_error`` (default true): a failing iteration fails the step with its
  error; with ``false`` the failure is recorded in ``iterations`` and the loop
  goes on. In a parallel loop the error raised is the one of the failing
  iteration with the lowest index; no iteration after it is started.
- ``break_condition``: checked after each successful iteration (in that
  iteration's scope); when it holds the loop ends there. In a parallel loop the
  result is cut after the first breaking iteration by index.
- ``break`` / ``continue`` steps in the body end the loop after this iteration
  / end this iteration (:mod:`evofarm.pipeline.steps.loop_control`); a broken
  iteration counts as successful.
- ``continue_condition``: accepted for compatibility only; pipeline_ex checks it
  after the iteration has finished, where continuing is what happens anyway.

Limits: every body step counts against the run's ``max_steps`` (atomically, from
any thread) and the list length against ``max_loop_iterations``; a limit breach
always fails the step, whatever ``break_on_error`` says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Final

from evofarm.errors import ExecutionError, LimitExceeded, StepFailed
from evofarm.pipeline.bounded import Outcome, run_bounded
from evofarm.pipeline.context import Frame, StepContext
from evofarm.pipeline.schema import ForLoopStep
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.pipeline.steps.control import check_iterations, resolve_source
from evofarm.pipeline.steps.loop_control import LoopSignal

DEFAULT_MAX_PARALLEL: Final = 5
MAX_PARALLEL_CAP: Final = 10


@dataclass(frozen=True)
class _Iteration:
    """One finished iteration: its result entry and whether ``break_condition`` held."""

    entry: dict[str, Any]
    frame: Frame
    breaks: bool = False


def for_loop(step: ForLoopStep, ctx: StepContext) -> Any:
    """Run the body once per item; see the module docstring."""
    data = resolve_source(step.data_source, ctx, "data_source")
    if isinstance(data, dict):
        data = [{"key": k, "value": v} for k, v in data.items()]
    if not isinstance(data, list):
        raise StepFailed(f"Data source must resolve to a list, got {type(data).__name__}")
    check_iterations(len(data), ctx)
    workers = min(step.max_parallel or DEFAULT_MAX_PARALLEL, MAX_PARALLEL_CAP)
    iterations: list[dict[str, Any]] = []
    batches = 0
    for start, batch in _batches(data, step.batch_size):
        batches += 1
        if step.parallel:
            done, broke = _run_parallel(step, ctx, data, start, len(batch), workers=workers)
        else:
            done, broke = _run_sequential(step, ctx, data, start, len(batch))
        iterations.extend(done)
        if broke:
            break
    result: dict[str, Any] = {
        "iterations": iterations,
        "success": all(it["success"] for it in iterations),
        "total_items": len(data),
        "completed_items": sum(1 for it in iterations if it["success"]),
    }
    if step.parallel:
        result.update(parallel=True, max_parallel=workers)
    if step.batch_size is not None:
        result["batches_processed"] = batches
    return result


def _batches(data: list[Any], size: int | None) -> Iterator[tuple[int, list[Any]]]:
    size = size or max(len(data), 1)
    for start in range(0, len(data), size):
        yield start, data[start : start + size]


def _run_sequential(
    step: ForLoopStep, ctx: StepContext, data: list[Any], start: int, count: int
) -> tuple[list[dict[str, Any]], bool]:
    """Iterations in order, in the loop's own frame (each sees the ones before)."""
    done: list[dict[str, Any]] = []
    for index in range(start, start + count):
        try:
            iteration = _iterate(step, ctx, ctx.frame, data, index)
        except BaseException as exc:
            done.append(_failure(step, ctx, data, index, exc))
            continue
        done.append(iteration.entry)
        if iteration.breaks:
            return done, True
    return done, False


def _run_parallel(
    step: ForLoopStep,
    ctx: StepContext,
    data: list[Any],
    start: int,
    count: int,
    *,
    workers: int,
) -> tuple[list[dict[str, Any]], bool]:
    """Iterations on ``workers`` threads, each in a fork of the loop's frame."""

    def job(offset: int) -> _Iteration:
        return _iterate(step, ctx, _fork(ctx.frame), data, start + offset)

    def stop(outcome: Outcome[_Iteration]) -> bool:
        if outcome.error is not None:
            return not _recorded(step, outcome.error)
        return outcome.value is not None and outcome.value.breaks

    before = _fork(ctx.frame)
    outcomes = run_bounded(count, job, max_workers=workers, stop=stop, name=f"for-{step.name}")
    done: list[dict[str, Any]] = []
    for offset, outcome in enumerate(outcomes):
        if outcome is None:  # not started: an earlier iteration stopped the loop
            break
        if outcome.error is not None:
            done.append(_failure(step, ctx, data, start + offset, outcome.error))
            continue
        assert outcome.value is not None
        _merge(ctx.frame, outcome.value.frame, before)
        done.append(outcome.value.entry)
        if outcome.value.breaks:
            return done, True
    return done, False


def _iterate(
    step: ForLoopStep, ctx: StepContext, frame: Frame, data: list[Any], index: int
) -> _Iteration:
    """Run the body for ``data[index]`` in ``frame``."""
    ctx.shared.check_deadline(step.name)
    parent = dict(ctx.loop) if ctx.loop is not None else None
    item = data[index]
    loop: dict[str, Any] = {
        step.iterator: item,
        "item": item,
        "index": index,
        "total": len(data),
        "first": index == 0,
        "last": index == len(data) - 1,
        "level": (parent.get("level", 0) + 1) if parent else 0,
    }
    if parent is not None:
        loop["parent"] = parent
    before = {s.name: frame.records.get(s.name) for s in step.steps}
    try:
        ctx.engine.run_steps(step.steps, frame, ctx.shared, loop=loop, meter=ctx.meter)
        signal = None
    except LoopSignal as caught:
        signal = caught.kind
    results = {s.name: _result_of(frame, s.name) for s in step.steps}
    if signal is not None:
        # Steps after the break/continue did not run in this iteration: no result
        # (the frame still holds an earlier iteration's record under their names).
        results = {
            n: v if frame.records.get(n) is not before[n] else None for n, v in results.items()
        }
    entry = {"index": index, "item": item, "success": True, "results": results}
    breaks = signal == "break"
    if not breaks and step.break_condition is not None:
        inner = StepContext(step, frame, ctx.shared, ctx.engine, loop=loop, meter=ctx.meter)
        breaks = inner.holds(step.break_condition)
    return _Iteration(entry, frame, breaks)


def _recorded(step: ForLoopStep, error: BaseException) -> bool:
    """Whether a failed iteration is recorded (and the loop goes on) or fails the step."""
    return (
        step.break_on_error is False
        and isinstance(error, ExecutionError)
        and not isinstance(error, LimitExceeded)  # limits protect the farm
    )


def _failure(
    step: ForLoopStep, ctx: StepContext, data: list[Any], index: int, error: BaseException
) -> dict[str, Any]:
    """The entry of a failed iteration, or ``error`` re-raised if it fails the step."""
    if not _recorded(step, error):
        raise error
    ctx.meter.record_error(str(error))
    return {"index": index, "item": data[index], "success": False, "error": str(error)}


def _fork(frame: Frame) -> Frame:
    """A copy of ``frame`` an iteration can write without touching the others."""
    return replace(
        frame,
        variables=dict(frame.variables),
        records=dict(frame.records),
        sessions={name: list(turns) for name, turns in frame.sessions.items()},
    )


def _merge(base: Frame, fork: Frame, before: Frame) -> None:
    """Copy into ``base`` what the iteration in ``fork`` wrote.

    What it wrote is what differs from ``before`` (the frame as the forks started
    from it): records and variables by identity, sessions (copied lists) by
    value. So an untouched copy never overwrites what an earlier iteration wrote.
    """
    for mine, theirs, old in (
        (base.variables, fork.variables, before.variables),
        (base.records, fork.records, before.records),
    ):
        mine.update({k: v for k, v in theirs.items() if old.get(k) is not v})
    base.sessions.update({k: v for k, v in fork.sessions.items() if before.sessions.get(k) != v})


def _result_of(frame: Frame, name: str) -> Any:
    record = frame.records.get(name)
    return None if record is None else record.result


register_step_type(StepType("for_loop", ForLoopStep, for_loop, bodies=("steps",)))
