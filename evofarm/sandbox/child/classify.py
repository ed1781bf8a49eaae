"""Map what happened inside the child (an exception, a failed run trace) to an
:class:`~evofarm.sandbox.wire.outcome.Outcome`."""

from __future__ import annotations

import errno
from typing import Any

from evofarm.errors import LimitExceeded
from evofarm.sandbox.wire.outcome import Outcome

# Executor limits (RunLimits field names) that are sandbox outcomes too; the
# other limits (max_steps, max_depth, max_loop_iterations) are the
# candidate's own error.
_EXECUTOR_LIMITS = {
    "step_timeout_s": Outcome.TIMEOUT,
    "run_timeout_s": Outcome.TIMEOUT,
    "max_output_bytes": Outcome.OUTPUT_LIMIT,
}


# Outcomes that mean a limit stopped the candidate.
LIMIT_OUTCOMES = frozenset(
    {
        Outcome.TIMEOUT,
        Outcome.MEMORY_LIMIT,
        Outcome.CPU_LIMIT,
        Outcome.PROCESS_LIMIT,
        Outcome.OUTPUT_LIMIT,
    }
)


def outcome_for_limit(limit: str | None) -> Outcome:
    """The outcome of a ``LimitExceeded`` naming ``limit``."""
    if limit is None:
        return Outcome.CANDIDATE_ERROR
    if limit in _EXECUTOR_LIMITS:
        return _EXECUTOR_LIMITS[limit]
    try:
        # A python step stopped by a limit in the child names the outcome.
        return Outcome(limit)
    except ValueError:
        return Outcome.CANDIDATE_ERROR


def outcome_for_exception(exc: BaseException) -> Outcome:
    """The outcome an exception raised by candidate code stands for."""
    if isinstance(exc, MemoryError):
        return Outcome.MEMORY_LIMIT
    if isinstance(exc, LimitExceeded):
        return outcome_for_limit(exc.limit)
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return Outcome.PROCESS_LIMIT  # threads count against RLIMIT_NPROC too
    if isinstance(exc, OSError):
        if exc.errno == errno.EAGAIN:
            return Outcome.PROCESS_LIMIT  # fork/clone refused by RLIMIT_NPROC
        if exc.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
            return Outcome.OUTPUT_LIMIT
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENETUNREACH):
            return Outcome.FORBIDDEN
    return Outcome.CANDIDATE_ERROR


def outcome_for_trace(trace: dict[str, Any]) -> tuple[Outcome, str]:
    """The outcome and message of a pipeline run, from its trace data."""
    if trace.get("status") == "completed":
        return Outcome.OK, ""
    message = str(trace.get("error") or "the run failed")
    if trace.get("error_type") == "LimitExceeded":
        return outcome_for_limit(trace.get("limit")), message
    if "MemoryError" in message:
        return Outcome.MEMORY_LIMIT, message
    return Outcome.CANDIDATE_ERROR, message
