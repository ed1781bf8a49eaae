"""The worker's side of ``pipeline_executor`` in sandboxed evaluations.

A sandboxed candidate cannot read suites; its ``pipeline_executor`` steps send
a produced pipeline and a suite name to the worker
(:mod:`evofarm.sandbox.parent.score_relay`). :class:`SandboxScorer` answers:
it loads the named suite from the worker's suites directory, validates the
pipeline, evaluates it in a fresh sandbox with the same per-case limits,
provider and fitness config as the outer evaluation, and returns only the
scores and the usage that sandbox's relay counted (trusted, never the child's
word); the scores' efficiency reads the same count
(:mod:`~evofarm.campaign.worker.relay_meter`). The nested sandbox gets a scorer
one level deeper; past
:data:`~evofarm.fitness.pipeline_executor_step.MAX_NESTING` it refuses, so a
pipeline cannot recurse forever whatever its child claims about its depth.

Thread-safe: suites are cached by path under a lock; each call starts its own
sandbox.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from evofarm.campaign.spec import CampaignSpec
from evofarm.campaign.worker.relay_meter import NOTHING, relay_meter
from evofarm.errors import UserInputError
from evofarm.fitness.metered import CaseMeter
from evofarm.fitness.pipeline_executor_step import (
    MAX_NESTING,
    refused,
    result_of,
    with_inputs,
)
from evofarm.fitness.runner import CaseFailed, evaluate_pipeline, select_cases
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import TaskSuite, load_suite, resolve_suite
from evofarm.pipeline.loader import pipeline_from_data
from evofarm.pipeline.runtime import RunLimits
from evofarm.pipeline.schema import Pipeline
from evofarm.providers.base import Provider
from evofarm.providers.registry import ProviderSet
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.batch import CaseReport, run_pipeline_batch_sandboxed
from evofarm.sandbox.wire.outcome import Outcome, SandboxUsage
from evofarm.settings import Settings


@dataclasses.dataclass(frozen=True)
class ScorerSetup:
    """What every nested evaluation of one campaign shares."""

    suites_dir: Path
    llm: Provider | None
    limits: SandboxLimits
    run_limits: RunLimits | None = None
    settings: Settings | None = None
    config: FitnessConfig = dataclasses.field(default_factory=FitnessConfig)
    concurrency: int = 1


class SandboxScorer:
    """A :data:`~evofarm.sandbox.parent.score_relay.WorkerScorer` (see module docs).

    Args:
        setup: the campaign's shared setup.
        depth: the evaluation depth of the sandbox whose requests this serves.
    """

    def __init__(self, setup: ScorerSetup, depth: int = 0) -> None:
        self.setup = setup
        self.depth = depth
        self._suites: dict[Path, TaskSuite] = {}
        self._lock = threading.Lock()

    def suite(self, name: str) -> TaskSuite:
        """The named suite of the worker's suites directory (loaded once).

        Raises:
            SuiteError: no such suite, a name escaping the directory, or invalid.
        """
        path = resolve_suite(name, self.setup.suites_dir)
        with self._lock:
            cached = self._suites.get(path)
        if cached is None:
            cached = load_suite(path)
            with self._lock:
                self._suites[path] = cached
        return cached

    def deeper(self) -> SandboxScorer:
        """The scorer of the nested sandbox (shares the suite cache)."""
        child = SandboxScorer(self.setup, self.depth + 1)
        child._suites, child._lock = self._suites, self._lock
        return child

    def __call__(
        self, pipeline: dict[str, Any], suite: str, fidelity: float, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        """Scores of ``pipeline`` on the suite called ``suite``.

        Raises:
            SuiteError: the suite (refused to the child as its step's failure).
            SandboxError, ProviderUnavailable: infrastructure (fails the outer one).
        """
        if self.depth + 1 > MAX_NESTING:
            return refused(f"evaluations nest at most {MAX_NESTING} deep", "limit_exceeded")
        loaded = with_inputs(self.suite(suite), inputs)
        try:
            candidate = pipeline_from_data(pipeline, "<pipeline_executor proposal>")
        except UserInputError as exc:
            return refused(str(exc), "invalid")
        usage = SandboxUsage()
        meters: list[CaseMeter] = []
        evaluation = evaluate_pipeline(
            candidate,
            loaded,
            case_runner=self._case_runner(loaded, fidelity, usage, meters),
            fidelity=fidelity,
            config=self.setup.config,
            meter=lambda case: meters[0](case) if meters else NOTHING,
        )
        result = result_of(evaluation)
        result["usage"] = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": usage.cost_usd,
        }
        return result

    def _case_runner(
        self, suite: TaskSuite, fidelity: float, usage: SandboxUsage, meters: list[CaseMeter]
    ) -> Any:
        """A case runner running every selected case in ONE nested sandbox; once it
        ran, ``usage`` holds the sandbox's relayed usage and ``meters`` its meter."""
        cases = select_cases(suite, fidelity)
        batch: list[dict[str, CaseReport]] = []
        lock = threading.Lock()
        setup = self.setup

        def run(pipeline: Pipeline, case: Any) -> Any:
            with lock:
                if not batch:
                    done = run_pipeline_batch_sandboxed(
                        pipeline,
                        [(c.id, c.inputs) for c in cases],
                        llm=setup.llm,
                        concurrency=setup.concurrency,
                        limits=setup.limits,
                        run_limits=setup.run_limits,
                        strict=True,
                        settings=setup.settings,
                        source="<pipeline_executor proposal>",
                        scorer=self.deeper(),
                        evaluation_depth=self.depth + 1,
                    )
                    used = done.sandbox.usage
                    usage.input_tokens += used.input_tokens
                    usage.output_tokens += used.output_tokens
                    usage.cost_usd += used.cost_usd
                    meters.append(
                        relay_meter(done.sandbox, [c.id for c in cases], setup.concurrency)
                    )
                    batch.append(done.cases)
            report = batch[0][case.id]
            if report.outcome is not Outcome.OK:
                raise CaseFailed(report.outcome.value, report.message, trace=report.value)
            return report.value

        return run


def nested_scorer(spec: CampaignSpec, providers: ProviderSet, concurrency: int) -> SandboxScorer:
    """The scorer serving a campaign's sandboxed ``pipeline_executor`` steps (depth 0)."""
    from evofarm.campaign.candidate_runtime import run_limits, suites_dir_for  # noqa: PLC0415

    setup = ScorerSetup(
        suites_dir=suites_dir_for(spec, providers.settings),
        llm=providers.as_provider(),
        limits=spec.sandbox,
        run_limits=run_limits(spec),
        settings=providers.settings,
        config=spec.fitness,
        concurrency=concurrency,
    )
    return SandboxScorer(setup)
