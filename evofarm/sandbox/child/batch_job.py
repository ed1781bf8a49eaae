"""Run a batch job (one pipeline, many cases) inside the sandboxed child.

Each case runs with the ordinary executor exactly as a single pipeline job
would (same runtime, same per-case ``RunLimits``, strict templates), on one of
``concurrency`` threads, in its own workspace directory below the sandbox's
working directory (removed when the case ends, so the private ``tmpfs`` only
holds the files of the cases running at once). A case that overruns its
``run_timeout_s`` fails alone with ``timeout``; a limit of the whole sandbox
(memory, CPU, wall) ends every case still running, and the parent fails them.
A case that runs out of memory ends the sandbox at once (the address space is
shared: the limit is the sandbox's), and a case refused a thread or process is
reported only after every other case ended, since that too may have been the
memory running out.

Each other case's result is reported the moment the case ends, as one
``{"type": "case", "id", "outcome", "message", "value"}`` frame, so that a
later death of the sandbox cannot take it back.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from evofarm.errors import FarmError
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import pipeline_from_data
from evofarm.providers.base import Provider
from evofarm.sandbox.child.classify import outcome_for_exception, outcome_for_trace
from evofarm.sandbox.child.pipeline_job import job_runtime
from evofarm.sandbox.wire.job import PipelineBatchJob
from evofarm.sandbox.wire.outcome import Outcome

#: ``(case_id, outcome, message, trace data or None)``: called once per case, from its thread.
CaseReporter = Callable[[str, Outcome, str, Any], None]


def case_dir_name(case_id: str) -> str:
    """A filesystem-safe directory name for ``case_id``, unique per id."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", case_id)[:60].lstrip(".") or "case"
    return f"{safe}-{hashlib.sha256(case_id.encode()).hexdigest()[:8]}"


def run_batch_job(
    job: PipelineBatchJob,
    provider: Provider,
    workdir: str,
    *,
    report: CaseReporter,
    describe: Callable[[BaseException], str],
    abort: Callable[[Outcome, str], NoReturn],
) -> None:
    """Run every case of ``job``; ``report`` each as it ends.

    A case's exception is its own outcome (as for a single pipeline job). An
    exception from ``report`` itself (e.g. ``MemoryError`` while encoding, a
    broken pipe) is re-raised after the other cases ended, so the child dies
    and the parent fails the cases it has not heard of. A case that ran out
    of memory is reported, then ``abort(outcome, message)`` ends the sandbox.

    Raises:
        PipelineLoadError, PipelineValidationError: the pipeline data is invalid.
        SandboxError: the job's options are malformed (a worker-side bug).
        BaseException: the first exception raised by ``report``.
    """
    base = job_runtime(job.options, provider, workdir)
    pipeline = pipeline_from_data(job.pipeline, job.source)
    root = Path(workdir) / "cases"
    fatal: list[BaseException] = []
    held: list[tuple[str, Outcome, str, Any]] = []
    lock = threading.Lock()

    def one(case: tuple[str, dict[str, Any]]) -> None:
        case_id, inputs = case
        workspace = root / case_dir_name(case_id)
        trace: Any = None
        try:
            raw = run_pipeline(pipeline, inputs, runtime=replace(base, workspace=workspace))
            trace = raw.model_dump(mode="json")
            outcome, message = outcome_for_trace(trace)
            if trace.get("limit"):  # as the evaluation words it: which limit
                message = f"{message} (limit {trace['limit']})"
        except BaseException as exc:  # everything the candidate does is data
            outcome = outcome_for_exception(exc)
            message = str(exc) if isinstance(exc, FarmError) else describe(exc)
        if outcome is Outcome.MEMORY_LIMIT:
            # The cases share one address space: the limit is the sandbox's,
            # and the cases running beside this one may have failed because of
            # it in other ways (a thread refused looks like process_limit). The
            # sandbox ends here, so every case not reported fails memory_limit
            # with this case's message.
            send(case_id, outcome, message, trace)
            abort(outcome, message)
        if outcome is Outcome.PROCESS_LIMIT:
            # Held back to the end: if memory runs out meanwhile, it was that.
            with lock:
                held.append((case_id, outcome, message, trace))
        else:
            send(case_id, outcome, message, trace)
        shutil.rmtree(workspace, ignore_errors=True)

    def send(case_id: str, outcome: Outcome, message: str, trace: Any) -> None:
        try:
            report(case_id, outcome, message, trace)
        except BaseException as exc:
            with lock:
                fatal.append(exc)

    workers = min(job.concurrency, len(job.cases))
    if workers == 1:
        for case in job.cases:
            one(case)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="case") as pool:
            list(pool.map(one, job.cases))
    for item in held:
        send(*item)
    if fatal:
        raise fatal[0]
