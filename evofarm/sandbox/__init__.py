"""evofarm.sandbox: run one candidate evaluation in a child process it can kill.

Public API, importable from here (``from evofarm.sandbox import run_sandboxed``):

* :func:`run_sandboxed` - run a :class:`PythonJob`, :class:`PipelineJob` or
  :class:`PipelineBatchJob`; returns a :class:`SandboxResult`.
* :func:`run_pipeline_sandboxed` - the same for a
  :class:`~evofarm.pipeline.schema.Pipeline`; :func:`run_pipeline_batch_sandboxed`
  runs one pipeline over many cases in one sandbox (what the farm calls).
* :class:`SandboxLimits`, :class:`Outcome`, :class:`Isolation`, :class:`SandboxUsage`.
* :mod:`evofarm.sandbox.parent.python_runner` - runners for the ``python`` step.

The names are resolved on first access, so importing :mod:`evofarm.sandbox` (or
the cheap :mod:`evofarm.sandbox.limits`, which the campaign spec uses) does not
import the runner and the zygote machinery.

Layout: :mod:`evofarm.sandbox.parent` (the worker's side),
:mod:`evofarm.sandbox.child` (the zygote, the supervisor, the candidate process),
:mod:`evofarm.sandbox.wire` (the JSON messages between them). See
``docs/sandbox.md`` for the isolation, the degraded mode and the outcomes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evofarm.sandbox.limits import SandboxLimits
    from evofarm.sandbox.parent.batch import run_pipeline_batch_sandboxed
    from evofarm.sandbox.parent.pipeline import run_pipeline_sandboxed
    from evofarm.sandbox.parent.runner import run_sandboxed
    from evofarm.sandbox.wire.job import PipelineBatchJob, PipelineJob, PythonJob
    from evofarm.sandbox.wire.outcome import Isolation, Outcome, SandboxResult, SandboxUsage

_EXPORTS: dict[str, str] = {
    "SandboxLimits": "evofarm.sandbox.limits",
    "run_pipeline_batch_sandboxed": "evofarm.sandbox.parent.batch",
    "run_pipeline_sandboxed": "evofarm.sandbox.parent.pipeline",
    "run_sandboxed": "evofarm.sandbox.parent.runner",
    "PipelineBatchJob": "evofarm.sandbox.wire.job",
    "PipelineJob": "evofarm.sandbox.wire.job",
    "PythonJob": "evofarm.sandbox.wire.job",
    "Isolation": "evofarm.sandbox.wire.outcome",
    "Outcome": "evofarm.sandbox.wire.outcome",
    "SandboxResult": "evofarm.sandbox.wire.outcome",
    "SandboxUsage": "evofarm.sandbox.wire.outcome",
}

__all__ = [
    "Isolation",
    "Outcome",
    "PipelineBatchJob",
    "PipelineJob",
    "PythonJob",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUsage",
    "run_pipeline_batch_sandboxed",
    "run_pipeline_sandboxed",
    "run_sandboxed",
]


def __getattr__(name: str) -> Any:
    """Resolve a public name lazily (PEP 562); unknown names raise AttributeError."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
