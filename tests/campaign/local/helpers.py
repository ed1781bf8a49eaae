"""Shared set-ups for the in-process loop tests: a staged evaluator that counts case runs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from evofarm.campaign.candidate_runtime import runtime_factory
from evofarm.campaign.local.evaluator import StagedEvaluator
from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.fitness.runner import default_case_runner, evaluate_pipeline
from evofarm.fitness.suite import TaskSuite
from evofarm.fitness.suite_models import Case
from evofarm.pipeline.schema import Pipeline


def counting_staged(
    spec: CampaignSpec, suite: TaskSuite, runs: Counter[tuple[str, str]]
) -> StagedEvaluator:
    """The default staged evaluator of ``spec`` on ``suite``, adding one to
    ``runs[genome, case]`` for every case it runs (reused cases are not run)."""
    inner = default_case_runner(runtime_factory(spec))

    def staged(genome: Genome, fidelity: float, earlier: Evaluation | None) -> Evaluation:
        def runner(pipeline: Pipeline, case: Case) -> Any:
            runs[genome.id, case.id] += 1
            return inner(pipeline, case)

        return evaluate_pipeline(
            genome.to_pipeline(), suite, case_runner=runner, fidelity=fidelity,
            config=spec.fitness, genome_id=genome.id,
            reuse=earlier.cases if earlier else (),
        )  # fmt: skip

    return staged
