"""Run a pipeline job inside the sandboxed child.

The pipeline is rebuilt from its data and run by the ordinary executor with:
every provider slot served by the pipe to the worker
(:meth:`ProviderSet.using`), ``python`` steps run in this very process (it is
the sandbox), the workspace inside the private working directory, and model
aliases from the worker's (non-secret) settings passed in the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evofarm.errors import SandboxError
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import pipeline_from_data
from evofarm.pipeline.runtime import RunLimits, Runtime
from evofarm.providers.base import Provider
from evofarm.providers.registry import ProviderSet
from evofarm.sandbox.child.candidate import InChildPythonRunner
from evofarm.sandbox.child.proxy import PipeProvider
from evofarm.sandbox.child.score_proxy import PipeScorer
from evofarm.sandbox.wire.job import PipelineJob
from evofarm.settings import Settings

# Settings the worker may hand to the child: model names only, never keys/URLs.
SHAREABLE_SETTINGS = (
    "model_haiku",
    "model_sonnet",
    "model_opus",
    "default_claude_model",
    "default_gemini_model",
)
OPTION_KEYS = frozenset(
    {"strict", "base_dir", "limits", "settings", "evaluation_depth", "read_files"}
)


def job_options(
    *,
    strict: bool = True,
    base_dir: Path | None = None,
    limits: RunLimits | None = None,
    settings: Settings | None = None,
    evaluation_depth: int = 0,
    read_files: frozenset[Path] | None = None,
) -> dict[str, Any]:
    """Options for a :class:`PipelineJob`, built on the worker's side.

    ``read_files`` is a campaign's allow-list (``Runtime.read_files``).

    ``evaluation_depth`` is how many ``pipeline_executor`` evaluations enclose
    the job (the worker's count: the child's word on it is never asked).
    """
    options: dict[str, Any] = {"strict": strict}
    if evaluation_depth:
        options["evaluation_depth"] = evaluation_depth
    if base_dir is not None:
        options["base_dir"] = str(base_dir.resolve())
    if read_files is not None:
        options["read_files"] = sorted(str(p) for p in read_files)
    if limits is not None:
        options["limits"] = limits.model_dump(mode="json")
    if settings is not None:
        options["settings"] = {k: getattr(settings, k) for k in SHAREABLE_SETTINGS}
    return options


def job_runtime(options: dict[str, Any], provider: Provider, workdir: str) -> Runtime:
    """The child's runtime for a pipeline job's ``options`` (workspace under ``workdir``).

    Raises:
        SandboxError: the options are malformed (a worker-side bug).
    """
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise SandboxError(f"unknown pipeline job options: {sorted(unknown)}")
    shared = options.get("settings", {})
    settings = Settings(**{k: v for k, v in shared.items() if k in SHAREABLE_SETTINGS})
    return Runtime(
        providers=ProviderSet.using(provider, settings=settings),
        limits=RunLimits.model_validate(options.get("limits", {})),
        strict=bool(options.get("strict", True)),
        workspace=Path(workdir) / "workspace",
        base_dir=Path(options.get("base_dir", workdir)),
        python_runner=InChildPythonRunner(),
        evaluation_depth=int(options.get("evaluation_depth", 0)),
        read_files=(
            frozenset(Path(p) for p in options["read_files"]) if "read_files" in options else None
        ),
        # No suite is readable here: pipeline_executor asks the worker to score.
        scorer=PipeScorer(provider) if isinstance(provider, PipeProvider) else None,
    )


def run_pipeline_job(job: PipelineJob, provider: Provider, workdir: str) -> dict[str, Any]:
    """Run the job's pipeline here; return its ``RunTrace`` data.

    Raises:
        PipelineLoadError, PipelineValidationError: the pipeline data is invalid.
        SandboxError: the job's options are malformed (a worker-side bug).
    """
    runtime = job_runtime(job.options, provider, workdir)
    pipeline = pipeline_from_data(job.pipeline, job.source)
    trace = run_pipeline(pipeline, job.inputs, runtime=runtime)
    return trace.model_dump(mode="json")
