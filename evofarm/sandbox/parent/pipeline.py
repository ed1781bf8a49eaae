"""Run a whole pipeline in the sandbox, from the worker's side.

What the farm's evaluate task and ``evofarm pipeline run --sandbox`` call: the
pipeline crosses as data, its LLM calls come back to ``llm`` (the worker's
provider, with its rate limiter, cache and budget), and the result is a
:class:`SandboxResult` whose ``value`` is the run's ``RunTrace`` data whenever
the run got as far as producing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evofarm.pipeline.loader import pipeline_to_data
from evofarm.pipeline.runtime import RunLimits
from evofarm.pipeline.schema import Pipeline
from evofarm.providers.base import Provider
from evofarm.sandbox.child.isolation import DEFAULT_HIDDEN
from evofarm.sandbox.child.pipeline_job import job_options
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.wire.job import PipelineJob
from evofarm.sandbox.wire.outcome import SandboxResult
from evofarm.settings import Settings, get_settings


def run_pipeline_sandboxed(
    pipeline: Pipeline,
    inputs: Mapping[str, Any] | None = None,
    *,
    llm: Provider | None,
    limits: SandboxLimits | None = None,
    run_limits: RunLimits | None = None,
    strict: bool = True,
    base_dir: Path | None = None,
    settings: Settings | None = None,
    source: str = "<pipeline>",
    namespaces: bool = True,
) -> SandboxResult:
    """Run ``pipeline`` on ``inputs`` in a fresh sandbox.

    Args:
        pipeline: the candidate.
        inputs: the run's inputs (JSON data).
        llm: serves the child's LLM calls, e.g. ``ProviderSet.as_provider()``.
        limits: the sandbox's resource limits.
        run_limits: the executor's limits inside the child.
        strict: strict template resolution (evaluation uses it).
        base_dir: where ``file`` prompt parts and nested pipeline files are
            read; shown to the child read-only (it must be readable by the
            sandbox's unprivileged uid).
        settings: the worker's settings; only model names cross to the child,
            and its ``state_dir`` (campaign data, the embedded Redis) is hidden
            from the child along with the usual directories.
        source: names the pipeline in error messages.
        namespaces: ``False`` forces the degraded mode.

    Raises:
        SandboxError, ProviderUnavailable: infrastructure failures (retryable).
    """
    settings = settings or get_settings()
    job = PipelineJob(
        pipeline=pipeline_to_data(pipeline),
        inputs=dict(inputs or {}),
        source=source,
        options=job_options(
            strict=strict,
            base_dir=base_dir,
            limits=run_limits,
            settings=settings,
        ),
    )
    expose = (str(base_dir.resolve()),) if base_dir is not None else ()
    hidden = (*DEFAULT_HIDDEN, str(settings.state_dir.resolve()))
    return run_sandboxed(
        job, limits=limits, llm=llm, namespaces=namespaces, hidden=hidden, expose=expose
    )
