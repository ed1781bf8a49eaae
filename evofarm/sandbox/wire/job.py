"""What a sandbox runs: a python function call, a whole pipeline, or one pipeline
over a batch of cases (JSON only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator


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


class PipelineBatchJob(BaseModel):
    """Run one pipeline on many cases in one sandbox (one evaluation of a genome).

    The child runs up to ``concurrency`` cases at once on threads, each with
    its own executor limits (``options["limits"]``, per case) and its own
    workspace, and reports each case's result as soon as it ends.

    Attributes:
        pipeline: the pipeline data.
        cases: ``(case_id, inputs)`` pairs; ids are unique.
        concurrency: cases run at once.
        source: where the pipeline came from, for error messages.
        options: as :attr:`PipelineJob.options`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["pipeline_batch"] = "pipeline_batch"
    pipeline: dict[str, Any]
    cases: tuple[tuple[str, dict[str, Any]], ...] = Field(min_length=1)
    concurrency: int = Field(default=1, ge=1)
    source: str = "<sandbox>"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_ids(self) -> PipelineBatchJob:
        ids = [case_id for case_id, _ in self.cases]
        if len(set(ids)) != len(ids):
            raise ValueError("case ids in a batch must be unique")
        return self

    @property
    def case_ids(self) -> frozenset[str]:
        """The ids of the batch's cases."""
        return frozenset(case_id for case_id, _ in self.cases)


AnyJob = PythonJob | PipelineJob | PipelineBatchJob
"""Every kind of job."""

SandboxJob = Annotated[AnyJob, Field(discriminator="kind")]
"""A job: discriminated on ``kind``."""

JOB_ADAPTER: TypeAdapter[AnyJob] = TypeAdapter(SandboxJob)
