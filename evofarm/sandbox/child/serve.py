"""What runs inside the sandbox: read the job, run it, report one result.

Runs in the candidate process (the child of the sandbox's init), after every
isolation step and resource limit is in place. Messages to the parent go over
the ``to_parent`` pipe; the job and LLM answers come over ``from_parent``.

The outcome the child reports is a classification of what it saw (an
exception, the guard's record); the parent still enforces the limits that
matter (output cap while reading, wall timeout) and classifies deaths by
signal, because a candidate can tamper with anything in this process.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from evofarm.errors import FarmError
from evofarm.sandbox.child import state
from evofarm.sandbox.child.batch_job import CaseReporter, run_batch_job
from evofarm.sandbox.child.candidate import CANDIDATE_FILENAME, call_python
from evofarm.sandbox.child.classify import outcome_for_exception, outcome_for_trace
from evofarm.sandbox.child.guard import Guard
from evofarm.sandbox.child.pipeline_job import run_pipeline_job
from evofarm.sandbox.child.proxy import FrameWriter, PipeProvider
from evofarm.sandbox.wire import channel
from evofarm.sandbox.wire.codes import EXIT_INTERNAL, EXIT_MEMORY
from evofarm.sandbox.wire.job import JOB_ADAPTER, AnyJob, PipelineBatchJob, PythonJob
from evofarm.sandbox.wire.outcome import Outcome
from evofarm.sandbox.wire.result_codec import ResultTooLarge, encode_result

JOB_CAP = 256 * 1024 * 1024
MESSAGE_CAP = 2000


def _describe(exc: BaseException) -> str:
    """``Type: message`` plus the candidate's innermost frame, capped."""
    text = f"{type(exc).__name__}: {exc}"
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename == CANDIDATE_FILENAME
    ]
    if frames:
        text += f" (line {frames[-1].lineno})"
    return text[:MESSAGE_CAP]


def _case_reporter(writer: FrameWriter, cap: int, guard: Guard, me: int) -> CaseReporter:
    """Reports one case of a batch: its trace capped at ``cap`` like a result."""

    def report(case_id: str, outcome: Outcome, message: str, value: Any) -> None:
        if os.getpid() != me:
            return  # a copy the candidate forked: only the original reports
        text = ""
        if value is not None:
            try:
                text = encode_result(value, cap)
            except ResultTooLarge as exc:
                outcome, message = Outcome.OUTPUT_LIMIT, str(exc)
        if guard.attempts:  # the case may not be the culprit, but cannot be trusted
            outcome, message, text = Outcome.FORBIDDEN, "; ".join(guard.attempts), ""
        head = {"type": "case", "id": case_id, "outcome": outcome.value}
        head["message"] = message[:MESSAGE_CAP]
        if text:
            writer.write(channel.encode_with_raw(head, "value", text))
        else:
            writer.send(head)

    return report


def _batch_abort(writer: FrameWriter, guard: Guard, me: int) -> Callable[[Outcome, str], NoReturn]:
    """Ends a batch at once with ``outcome``: the parent fails every case not reported."""

    def abort(outcome: Outcome, message: str) -> NoReturn:
        if os.getpid() != me:
            os._exit(0)
        if guard.attempts:
            outcome, message = Outcome.FORBIDDEN, "; ".join(guard.attempts)
        try:
            writer.send(
                {"type": "result", "outcome": outcome.value, "message": message[:MESSAGE_CAP]}
            )
        except BaseException:
            os._exit(EXIT_MEMORY if outcome is Outcome.MEMORY_LIMIT else EXIT_INTERNAL)
        os._exit(0)

    return abort


def _run(
    job: AnyJob, writer: FrameWriter, from_parent: int, workdir: str, *, guard: Guard, cap: int
) -> tuple[Outcome, str, Any]:
    """Run the job: ``(outcome, message, value)``; exceptions propagate."""
    if isinstance(job, PythonJob):
        return Outcome.OK, "", call_python(job.code, job.input)
    provider = PipeProvider(writer, from_parent)
    if isinstance(job, PipelineBatchJob):
        # The cases' results went to the parent one by one as they ended.
        me = os.getpid()
        report = _case_reporter(writer, cap, guard, me)
        abort = _batch_abort(writer, guard, me)
        run_batch_job(job, provider, workdir, report=report, describe=_describe, abort=abort)
        return Outcome.OK, "", None
    trace = run_pipeline_job(job, provider, workdir)
    outcome, message = outcome_for_trace(trace)
    return outcome, message, trace


def serve(to_parent: int, from_parent: int, workdir: str) -> NoReturn:
    """Run the one job the parent sends, report, and exit. Never returns."""
    me = os.getpid()
    state.mark_inside_sandbox()
    guard = Guard(workdir)
    guard.install()
    try:
        request = channel.recv(from_parent, JOB_CAP)
        if request is None or request.get("type") != "job":
            os._exit(EXIT_INTERNAL)
        cap = int(request["max_output_bytes"])
        job = JOB_ADAPTER.validate_python(request["job"])
        # One writer for every frame: a batch's cases and LLM calls write from
        # several threads, and a step thread that outlived its timeout may too.
        writer = FrameWriter(to_parent)
        text = ""
        try:
            outcome, message, value = _run(job, writer, from_parent, workdir, guard=guard, cap=cap)
            text = encode_result(value, cap)
        except ResultTooLarge as exc:
            outcome, message = Outcome.OUTPUT_LIMIT, str(exc)
        except BaseException as exc:  # everything the candidate does is data
            outcome = outcome_for_exception(exc)
            message = str(exc) if isinstance(exc, FarmError) else _describe(exc)
        if guard.attempts:
            outcome, message, text = Outcome.FORBIDDEN, "; ".join(guard.attempts), ""
        if os.getpid() != me:
            os._exit(0)  # a copy the candidate forked: only the original reports
        result = {"type": "result", "outcome": outcome.value, "message": message[:MESSAGE_CAP]}
        if text:
            writer.write(channel.encode_with_raw(result, "value", text))
        else:
            writer.send(result)
    except MemoryError:
        os._exit(EXIT_MEMORY if os.getpid() == me else 0)
    except BaseException:
        os._exit(EXIT_INTERNAL if os.getpid() == me else 0)
    os._exit(0)
