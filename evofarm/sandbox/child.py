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
from typing import Any, NoReturn

from evofarm.errors import FarmError
from evofarm.sandbox import channel, state
from evofarm.sandbox.candidate import CANDIDATE_FILENAME, call_python
from evofarm.sandbox.classify import outcome_for_exception, outcome_for_trace
from evofarm.sandbox.codes import EXIT_INTERNAL, EXIT_MEMORY
from evofarm.sandbox.guard import Guard
from evofarm.sandbox.job import JOB_ADAPTER, PipelineJob, PythonJob
from evofarm.sandbox.outcome import Outcome
from evofarm.sandbox.pipeline_job import run_pipeline_job
from evofarm.sandbox.proxy import PipeProvider
from evofarm.sandbox.result_codec import ResultTooLarge, encode_result

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


def _run(
    job: PythonJob | PipelineJob, to_parent: int, from_parent: int, workdir: str
) -> tuple[Outcome, str, Any]:
    """Run the job: ``(outcome, message, value)``; exceptions propagate."""
    if isinstance(job, PythonJob):
        return Outcome.OK, "", call_python(job.code, job.input)
    trace = run_pipeline_job(job, PipeProvider(to_parent, from_parent), workdir)
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
        text = ""
        try:
            outcome, message, value = _run(job, to_parent, from_parent, workdir)
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
        report = {"type": "result", "outcome": outcome.value, "message": message[:MESSAGE_CAP]}
        if text:
            channel.write_all(to_parent, channel.encode_with_raw(report, "value", text))
        else:
            channel.send(to_parent, report)
    except MemoryError:
        os._exit(EXIT_MEMORY if os.getpid() == me else 0)
    except BaseException:
        os._exit(EXIT_INTERNAL if os.getpid() == me else 0)
    os._exit(0)
