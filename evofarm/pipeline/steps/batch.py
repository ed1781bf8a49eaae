"""Concurrent Claude steps: ``claude_batch`` and ``parallel_claude``.

Tasks run on a thread pool (``batch_config.max_parallel``, default 3, for
``claude_batch``; one thread per task, at most 8, for ``parallel_claude``) and
share the step's usage meter.

- ``claude_batch``: each task's prompt is its own ``prompt``, or the step's
  ``prompt`` followed by the content of its ``file``. The result is
  ``{"results": [{"task_id", "success", "text" | "error"}], "successful",
  "failed"}`` plus ``"consolidated"`` (all answers joined) with
  ``consolidate_results``. A task that fails (missing file, ``timeout_per_task``)
  is recorded and the others go on; the step fails only when every task failed.
- ``parallel_claude``: ``{TASK_ID: answer text}``; a task whose ``condition`` is
  false gets ``null``; ``output_to_file`` of a task is written in the workspace.
  Any task failing fails the step.

Provider errors (infrastructure) are not caught: they fail the run's caller.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Final

from evofarm.errors import ExecutionError, StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.prompts import build_prompt
from evofarm.pipeline.schema import BatchTask, ClaudeBatchStep, ParallelClaudeStep, ParallelTask
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.pipeline.steps.llm import claude_options, claude_request
from evofarm.pipeline.workspace import confine, confine_read, read_text, write_text

DEFAULT_BATCH_PARALLEL: Final = 3
MAX_PARALLEL_TASKS: Final = 8


def _task_prompt(step: ClaudeBatchStep, task: BatchTask, ctx: StepContext) -> str:
    if task.prompt is not None:
        return build_prompt(task.prompt, ctx)
    assert task.file is not None  # the schema requires prompt or file
    runtime = ctx.runtime
    path = confine_read(
        ctx.render(task.file),
        runtime.base_dir,
        also=runtime.read_roots,
        workspace=runtime.workspace,
        listed=runtime.read_files,
    )
    head = build_prompt(step.prompt, ctx) if step.prompt else ""
    return "\n".join(p for p in (head, read_text(path)) if p)


def _ask(
    step: ClaudeBatchStep | ParallelClaudeStep,
    ctx: StepContext,
    prompt: str,
    task: BatchTask | ParallelTask,
) -> str:
    """One task's Claude call (the step's options overlaid with the task's); the
    answer is also written to the task's ``output_to_file`` in the workspace."""
    options = claude_options(step, ctx)
    if task.claude_options is not None:
        options.update(task.claude_options.model_dump(exclude_none=True))
    model, params = claude_request(step, ctx, options)
    text = ctx.complete("claude", prompt, model=model, **params).text
    if task.output_to_file:
        write_text(confine(ctx.render(task.output_to_file), ctx.runtime.workspace), text)
    return text


def _run_task(step: ClaudeBatchStep, task: BatchTask, ctx: StepContext) -> str:
    return _ask(step, ctx, _task_prompt(step, task, ctx), task)


def claude_batch(step: ClaudeBatchStep, ctx: StepContext) -> Any:
    """Run every task; see the module docstring for the result."""
    tasks = list(step.tasks or [])
    if not tasks:
        assert step.prompt is not None  # the schema requires prompt or tasks
        tasks = [BatchTask(task_id="task_1", prompt=step.prompt)]
    config = step.batch_config
    workers = (config.max_parallel if config and config.max_parallel else None) or (
        DEFAULT_BATCH_PARALLEL
    )
    timeout = config.timeout_per_task if config else None
    pool = ThreadPoolExecutor(max_workers=min(workers, len(tasks)))
    try:
        futures = [pool.submit(_run_task, step, task, ctx) for task in tasks]
        wait(futures, timeout=None if timeout is None else timeout * len(tasks))
        results = [
            _outcome(task.task_id or task.id or f"task_{i}", future, timeout, ctx)
            for i, (task, future) in enumerate(zip(tasks, futures, strict=True), start=1)
        ]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    successful = sum(1 for r in results if r["success"])
    if successful == 0:
        raise StepFailed(f"every batch task failed; first error: {results[0]['error']}")
    result: dict[str, Any] = {
        "results": results,
        "successful": successful,
        "failed": len(results) - successful,
    }
    if config is not None and config.consolidate_results:
        result["consolidated"] = "\n\n".join(str(r["text"]) for r in results if r["success"])
    return result


def _outcome(
    task_id: str, future: Future[str], timeout: int | None, ctx: StepContext
) -> dict[str, Any]:
    try:
        text = future.result(timeout=0 if timeout is not None else None)
    except TimeoutError:
        error = f"task {task_id!r} exceeded timeout_per_task ({timeout}s)"
    except ExecutionError as exc:
        error = f"task {task_id!r}: {exc}"
    else:
        return {"task_id": task_id, "success": True, "text": text}
    ctx.meter.record_error(error)
    return {"task_id": task_id, "success": False, "error": error}


def _parallel_task(step: ParallelClaudeStep, task: ParallelTask, ctx: StepContext) -> str | None:
    if task.condition is not None and not ctx.holds(task.condition):
        return None
    return _ask(step, ctx, build_prompt(task.prompt, ctx), task)


def parallel_claude(step: ParallelClaudeStep, ctx: StepContext) -> Any:
    """Run the tasks concurrently; ``{task id: answer}``."""
    tasks = step.parallel_tasks
    ids = [task.id or f"task_{i}" for i, task in enumerate(tasks, start=1)]
    pool = ThreadPoolExecutor(max_workers=min(len(tasks), MAX_PARALLEL_TASKS))
    try:
        futures = [pool.submit(_parallel_task, step, task, ctx) for task in tasks]
        return {task_id: future.result() for task_id, future in zip(ids, futures, strict=True)}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


register_step_type(StepType("claude_batch", ClaudeBatchStep, claude_batch))
register_step_type(StepType("parallel_claude", ParallelClaudeStep, parallel_claude))
