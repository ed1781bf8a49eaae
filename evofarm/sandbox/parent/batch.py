"""One sandbox per evaluation: run a pipeline over many cases, from the worker's side.

:func:`run_pipeline_batch_sandboxed` starts ONE sandbox in which the child runs
the candidate on every case (up to ``concurrency`` at once, on threads) and
reports each case's ``RunTrace`` data as the case ends. The farm's sandboxed
evaluator uses it so that a genome costs one sandbox start, not one per case.

Limits of a batch, from the per-case ``limits`` (:func:`batch_limits`):

* each case keeps its own executor limits (``run_limits``: run and step
  timeouts, output size per step), so a case that overruns fails alone;
* the sandbox's wall timeout is ``wall_timeout_s x ceil(cases / concurrency)
  + BATCH_SLACK_S`` and its CPU limit ``cpu_s x ceil(cases / concurrency)``;
* ``max_llm_calls`` is per case: the batch may make ``cases x`` as many;
* each case's result is capped at ``max_output_bytes`` (refused from the frame
  header) and each case reports once, so the batch returns at most
  ``cases x max_output_bytes``;
* the working directory holds ``min(cases, concurrency) x workdir_bytes``
  (a case's files are removed when it ends);
* ``max_processes`` gets two threads more per extra concurrent case (its case
  thread and its step thread);
* ``memory_bytes`` is NOT scaled: the cases share one address space.

When the whole sandbox ends badly (its wall or CPU limit, memory, a crash, a
forbidden attempt, output over the cap), every case it had not reported yet
fails with that outcome and message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from evofarm.pipeline.loader import pipeline_to_data
from evofarm.pipeline.runtime import RunLimits
from evofarm.pipeline.schema import Pipeline
from evofarm.providers.base import Provider
from evofarm.sandbox.child.isolation import DEFAULT_HIDDEN
from evofarm.sandbox.child.pipeline_job import job_options
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.parent.score_relay import WorkerScorer
from evofarm.sandbox.wire.job import PipelineBatchJob
from evofarm.sandbox.wire.outcome import Outcome, SandboxResult
from evofarm.settings import Settings, get_settings

#: Fixed wall-clock slack of a batch over its cases' rounds (start, teardown).
BATCH_SLACK_S = 2.0
#: Threads one more concurrent case may need: its case thread and its step thread.
THREADS_PER_CASE = 2


class CaseReport(BaseModel):
    """How one case of a batch ended.

    Attributes:
        outcome: the case's outcome (the sandbox's, when the sandbox ended first).
        message: why, empty for ``ok``.
        value: the case's ``RunTrace`` data when the run produced one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Outcome
    message: str = ""
    value: Any = None


@dataclass(frozen=True)
class BatchResult:
    """A batch: the sandbox's own result and one report per case id."""

    sandbox: SandboxResult
    cases: dict[str, CaseReport]


def batch_limits(limits: SandboxLimits, cases: int, concurrency: int) -> SandboxLimits:
    """The sandbox limits of a batch of ``cases`` run ``concurrency`` at a time,
    from the per-case ``limits`` (see the module docs).

    Raises:
        ValueError: ``cases`` or ``concurrency`` below 1.
    """
    if cases < 1 or concurrency < 1:
        raise ValueError("a batch needs at least one case and a concurrency of at least 1")
    at_once = min(cases, concurrency)
    rounds = math.ceil(cases / concurrency)
    return limits.model_copy(
        update={
            "wall_timeout_s": limits.wall_timeout_s * rounds + BATCH_SLACK_S,
            "cpu_s": limits.cpu_s * rounds,
            "max_llm_calls": limits.max_llm_calls * cases,
            "workdir_bytes": limits.workdir_bytes * at_once,
            "max_processes": limits.max_processes + THREADS_PER_CASE * (at_once - 1),
        }
    )


def run_pipeline_batch_sandboxed(
    pipeline: Pipeline,
    cases: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    llm: Provider | None,
    concurrency: int = 1,
    limits: SandboxLimits | None = None,
    run_limits: RunLimits | None = None,
    strict: bool = True,
    base_dir: Path | None = None,
    settings: Settings | None = None,
    source: str = "<pipeline>",
    namespaces: bool = True,
    scorer: WorkerScorer | None = None,
    evaluation_depth: int = 0,
    read_files: frozenset[Path] | None = None,
) -> BatchResult:
    """Run ``pipeline`` on every case in one fresh sandbox.

    Args:
        pipeline: the candidate.
        cases: ``(case_id, inputs)`` pairs, ids unique.
        llm: serves the child's LLM calls (concurrent calls are served at once).
        concurrency: cases run at once inside the sandbox.
        limits: the PER-CASE sandbox limits; :func:`batch_limits` scales them.
        run_limits: the executor's limits of each case.
        strict: strict template resolution (evaluation uses it).
        base_dir: as for :func:`~evofarm.sandbox.parent.pipeline.run_pipeline_sandboxed`.
        settings: the worker's settings (model names cross; ``state_dir`` is hidden).
        source: names the pipeline in error messages.
        namespaces: ``False`` forces the degraded mode.
        scorer: serves the child's ``pipeline_executor`` steps (see
            :mod:`evofarm.sandbox.parent.score_relay`); ``None`` refuses them.
        evaluation_depth: evaluations enclosing this one (the nested scorer's depth).
        read_files: a campaign's own pipeline files: the only ones outside the
            workspace the candidate may read, and the only ones shown to it.

    Returns:
        One :class:`CaseReport` per case id, and the sandbox's result.

    Raises:
        ValueError: no cases, duplicate ids, or ``concurrency`` below 1.
        SandboxError, ProviderUnavailable: infrastructure failures (retryable).
    """
    settings = settings or get_settings()
    job = PipelineBatchJob(
        pipeline=pipeline_to_data(pipeline),
        cases=tuple((case_id, dict(inputs)) for case_id, inputs in cases),
        concurrency=concurrency,
        source=source,
        options=job_options(
            strict=strict,
            base_dir=base_dir,
            limits=run_limits,
            settings=settings,
            evaluation_depth=evaluation_depth,
            read_files=read_files,
        ),
    )
    # With an allow-list the child is shown those files only, not base_dir's other contents.
    if read_files is not None:
        expose = tuple(sorted(str(p) for p in read_files))
    else:
        expose = (str(base_dir.resolve()),) if base_dir is not None else ()
    hidden = (*DEFAULT_HIDDEN, str(settings.state_dir.resolve()))
    result = run_sandboxed(
        job,
        limits=batch_limits(limits or SandboxLimits(), len(job.cases), concurrency),
        llm=llm,
        namespaces=namespaces,
        hidden=hidden,
        expose=expose,
        scorer=scorer,
    )
    reported: dict[str, Any] = (result.value or {}).get("cases", {})
    reports: dict[str, CaseReport] = {}
    for case_id, _ in job.cases:
        if case_id in reported:
            reports[case_id] = CaseReport.model_validate(reported[case_id])
        elif result.outcome is not Outcome.OK:
            reports[case_id] = CaseReport(outcome=result.outcome, message=result.message)
        else:
            reports[case_id] = CaseReport(
                outcome=Outcome.CANDIDATE_ERROR,
                message="the sandbox ended without reporting this case",
            )
    return BatchResult(sandbox=result, cases=reports)
