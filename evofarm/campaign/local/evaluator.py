"""Evaluating one genome on the campaign's suite, in this process.

The in-process loop's default evaluator: each case runs through the pipeline
executor with the campaign's providers (slot bindings; mock unless the campaign
says otherwise) and the run limits derived from the campaign's ``sandbox``
section; ``llm_judge`` checks call the campaign's providers as role ``judge``.
In-process runs are not sandboxed; the farm runs the same evaluation
inside the sandbox with every sandbox limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from evofarm.campaign.candidate_runtime import judge_provider, runtime_factory
from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.fitness.runner import evaluate_pipeline
from evofarm.fitness.suite import TaskSuite

Evaluator = Callable[[Genome], Evaluation]
"""Evaluates one genome (deterministically, for a deterministic pipeline)."""


class SampledEvaluator(Protocol):
    """An :data:`Evaluator` that can also draw sample ``k`` of a genome (``evolution.noise``).

    Sample 0 is the ordinary evaluation; the sample index reaches the checks
    (:class:`~evofarm.fitness.check_base.CheckContext`), so a stochastic check
    draws anew per sample, reproducibly.
    """

    def __call__(self, genome: Genome, sample: int = 0) -> Evaluation:
        """Evaluate ``genome`` (its ``sample``-th evaluation)."""
        ...


StagedEvaluator = Callable[[Genome, float, Evaluation | None], Evaluation]
"""Evaluates one genome at a fidelity, reusing the case results of an earlier
(partial) evaluation of it: the nursery's evaluator. Cases the earlier
evaluation ran are not run again."""


def make_evaluator(spec: CampaignSpec, suite: TaskSuite) -> SampledEvaluator:
    """The default evaluator of ``spec`` on ``suite`` (see module docs)."""
    factory = runtime_factory(spec)
    judge = judge_provider(spec, suite)

    def evaluate(genome: Genome, sample: int = 0) -> Evaluation:
        return evaluate_pipeline(
            genome.to_pipeline(),
            suite,
            runtime_factory=factory,
            fidelity=spec.fidelity,
            config=spec.fitness,
            genome_id=genome.id,
            judge=judge,
            sample=sample,
        )

    return evaluate


def make_staged_evaluator(spec: CampaignSpec, suite: TaskSuite) -> StagedEvaluator:
    """The default nursery evaluator of ``spec`` on ``suite`` (see :data:`StagedEvaluator`)."""
    factory = runtime_factory(spec)
    judge = judge_provider(spec, suite)

    def evaluate(genome: Genome, fidelity: float, earlier: Evaluation | None) -> Evaluation:
        return evaluate_pipeline(
            genome.to_pipeline(),
            suite,
            runtime_factory=factory,
            fidelity=fidelity,
            config=spec.fitness,
            genome_id=genome.id,
            judge=judge,
            reuse=earlier.cases if earlier is not None else (),
        )

    return evaluate
