"""What a sandbox runs: a python function call or a whole pipeline (JSON only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class PythonJob(BaseModel):
    """Run ``code`` (which defines ``run(value)``) on ``input``; the result is
    ``run``'s return value, which must be JSON-serialisable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["python"] = "python"
    code: str
    input: Any = None


class PipelineJob(BaseModel):
    """Run a pipeline (its canonical data, as ``pipeline_to_data`` gives it).

    Attributes:
        pipeline: the pipeline data.
        inputs: the run's inputs.
        source: where the pipeline came from, for error messages.
        options: runtime options for the child's executor: ``strict`` (bool),
            ``base_dir`` (str, visible read-only to the child), ``limits``
            (``RunLimits`` fields).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["pipeline"] = "pipeline"
    pipeline: dict[str, Any]
    inputs: dict[str, Any] = Field(default_factory=dict)
    source: str = "<sandbox>"
    options: dict[str, Any] = Field(default_factory=dict)


SandboxJob = Annotated[PythonJob | PipelineJob, Field(discriminator="kind")]
"""A job: discriminated on ``kind``."""

JOB_ADAPTER: TypeAdapter[PythonJob | PipelineJob] = TypeAdapter(SandboxJob)
