"""Runners for the pipeline's ``python`` step.

The executor calls ``runtime.python_runner(code, value)`` and uses the
return value as the step's result. Two runners exist because a ``python`` step
must always execute sandboxed:

* :class:`SandboxedPythonRunner` - for an executor running *outside* a sandbox
  (``evofarm pipeline run`` without ``--sandbox``, in-process evaluation): each
  call starts a sandbox for that one step, with the same limits.
* :class:`InChildPythonRunner` - for an executor already running *inside* a
  sandboxed child (a pipeline job): the code runs in that process, which is the
  sandbox.

:func:`python_runner_for_here` picks the right one. Both return JSON data
(tuples become lists), so a step's result is the same whichever ran it.
"""

from __future__ import annotations

from typing import Any

from evofarm.errors import LimitExceeded, StepFailed
from evofarm.pipeline.runtime import PythonRunner
from evofarm.providers.base import Provider
from evofarm.sandbox.child import state
from evofarm.sandbox.child.candidate import InChildPythonRunner, as_json
from evofarm.sandbox.child.classify import LIMIT_OUTCOMES
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.wire.job import PythonJob
from evofarm.sandbox.wire.outcome import Outcome, SandboxResult

__all__ = [
    "InChildPythonRunner",
    "PythonRunner",
    "SandboxedPythonRunner",
    "python_runner_for_here",
]


class SandboxedPythonRunner:
    """Starts one sandbox per call. Thread-safe.

    Args:
        limits: the sandbox limits of each call.
        llm: serves LLM calls (a python step makes none; kept for symmetry).
        namespaces: ``False`` forces the degraded isolation mode.

    Raises (from a call):
        StepFailed: the code failed, was forbidden something or crashed.
        LimitExceeded: a limit stopped it (``limit`` is the outcome name).
        SandboxError: the sandbox could not run.
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        llm: Provider | None = None,
        *,
        namespaces: bool = True,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.llm = llm
        self.namespaces = namespaces
        self.last_result: SandboxResult | None = None

    def __call__(self, code: str, value: Any) -> Any:
        job = PythonJob(code=code, input=as_json(value, "python step input"))
        result = run_sandboxed(job, limits=self.limits, llm=self.llm, namespaces=self.namespaces)
        self.last_result = result
        if result.outcome is Outcome.OK:
            return result.value
        message = f"{result.outcome.value}: {result.message}"
        if result.outcome in LIMIT_OUTCOMES:
            raise LimitExceeded(message, limit=result.outcome.value)
        raise StepFailed(message)


def python_runner_for_here(
    limits: SandboxLimits | None = None, llm: Provider | None = None
) -> PythonRunner:
    """The runner for an executor in this process: in-child inside a sandbox,
    sandboxed otherwise."""
    if state.inside_sandbox():
        return InChildPythonRunner()
    return SandboxedPythonRunner(limits, llm)
