"""Call a candidate's Python code (source that defines ``run(value)``), and the
``python`` step runner used inside a sandboxed child."""

from __future__ import annotations

import builtins
import json
from typing import Any

from evofarm.errors import LimitExceeded, StepFailed
from evofarm.sandbox.child import state
from evofarm.sandbox.child.classify import LIMIT_OUTCOMES, outcome_for_exception

CANDIDATE_FILENAME = "<candidate>"


def call_python(code: str, value: Any) -> Any:
    """Execute ``code`` in a fresh module namespace and return ``run(value)``.

    This gives no protection by itself: call it only inside a sandboxed child.

    Raises:
        StepFailed: the code does not compile or defines no callable ``run``.
        BaseException: whatever the candidate's code raises, unchanged.
    """
    try:
        compiled = compile(code, CANDIDATE_FILENAME, "exec")
    except (SyntaxError, ValueError) as exc:
        raise StepFailed(f"python code does not compile: {exc}") from None
    namespace: dict[str, Any] = {"__name__": "__candidate__", "__builtins__": builtins}
    exec(compiled, namespace)
    run = namespace.get("run")
    if not callable(run):
        raise StepFailed("python code must define a function run(value)")
    return run(value)


def as_json(value: Any, what: str) -> Any:
    """``value`` as JSON data (tuples become lists).

    Raises:
        StepFailed: it is not JSON-serialisable.
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StepFailed(f"{what} is not JSON-serialisable: {exc}") from None


class InChildPythonRunner:
    """Runs the code in this process. Use only inside a sandboxed child.

    Raises:
        RuntimeError: constructed outside a sandbox (that would run candidate
            code unprotected in the worker).
        StepFailed: the code fails, defines no ``run`` or returns non-JSON.
    """

    def __init__(self) -> None:
        if not state.inside_sandbox():
            raise RuntimeError("InChildPythonRunner runs code unprotected outside a sandbox")

    def __call__(self, code: str, value: Any) -> Any:
        try:
            result = call_python(code, value)
        except (StepFailed, LimitExceeded):
            raise
        except Exception as exc:
            outcome = outcome_for_exception(exc)
            message = f"python code raised {type(exc).__name__}: {exc}"
            if outcome in LIMIT_OUTCOMES:
                raise LimitExceeded(message, limit=outcome.value) from exc
            raise StepFailed(message) from exc
        return as_json(result, "python step result")
