"""``evaluate_pipeline(reuse=...)``: case results of an earlier evaluation are not run again."""

from __future__ import annotations

from typing import Any

from evofarm.campaign.candidate_runtime import runtime_factory
from evofarm.campaign.spec import load_campaign
from evofarm.fitness.runner import default_case_runner, evaluate_pipeline
from evofarm.fitness.suite_models import Case
from evofarm.pipeline.schema import Pipeline


def test_reused_case_results_are_not_run_again() -> None:
    spec = load_campaign("pipelines/campaigns/demo.yaml")
    suite = spec.load_suite()
    pipeline = spec.load_seeds()[0]
    inner = default_case_runner(runtime_factory(spec))
    ran: list[str] = []

    def runner(p: Pipeline, case: Case) -> Any:
        ran.append(case.id)
        return inner(p, case)

    part = evaluate_pipeline(pipeline, suite, case_runner=runner, fidelity=0.5, config=spec.fitness)
    first = list(ran)
    full = evaluate_pipeline(
        pipeline, suite, case_runner=runner, fidelity=1.0, config=spec.fitness, reuse=part.cases
    )
    again = ran[len(first) :]
    assert not set(first) & set(again) and len(first) + len(again) == len(suite.cases)
    direct = evaluate_pipeline(
        pipeline, suite, case_runner=inner, fidelity=1.0, config=spec.fitness
    )
    # Equal but for measured times: same cases, checks and score.
    assert [c.model_dump(exclude={"latency_ms"}) for c in full.cases] == [
        c.model_dump(exclude={"latency_ms"}) for c in direct.cases
    ]
    assert (full.score, full.test_rate, full.tokens) == (
        direct.score,
        direct.test_rate,
        direct.tokens,
    )
    # A lower fidelity from a larger reuse runs nothing and scores only its subset.
    ran.clear()
    small = evaluate_pipeline(
        pipeline, suite, case_runner=runner, fidelity=0.2, config=spec.fitness, reuse=full.cases
    )
    assert ran == [] and len(small.cases) == 5
