"""The worker's nursery evaluations: a stage runs only the cases a stored lower one lacks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evofarm.campaign import control, lifecycle
from evofarm.campaign.bundle import Campaign, CampaignCache, fidelity_key
from evofarm.campaign.candidate_runtime import runtime_factory
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.campaign.worker import staged, work
from evofarm.errors import StoreError
from evofarm.evolution.genome import Genome
from evofarm.evolution.nursery import NurseryConfig
from evofarm.fitness.metered import MeteredUsage
from evofarm.fitness.records import Evaluation, invalid_evaluation
from evofarm.fitness.runner import default_case_runner, evaluate_pipeline
from evofarm.fitness.suite_models import Case
from evofarm.pipeline.schema import Pipeline
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"
STAGES = {"stages": [{"fraction": 0.2, "promote": 0.5}, {"fraction": 0.5, "promote": 0.5}]}


def _spec() -> CampaignSpec:
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(update={"nursery": NurseryConfig.model_validate(STAGES)})
    return spec.model_copy(update={"evolution": evolution})


@pytest.fixture
def farm() -> tuple[MemoryStore, Campaign, CampaignCache]:
    store = MemoryStore()
    cid = control.submit(store, _spec(), seed=2)
    lifecycle.mark_running(store, cid)
    cache = CampaignCache()
    return store, cache.get(store, cid), cache


def _counting(runs: Counter[tuple[str, str]]) -> work.GenomeEvaluator:
    def evaluator(campaign: Campaign, genome: Genome) -> Evaluation:
        runs.update((genome.id, c.id) for c in campaign.suite.cases)
        return synthetic_eval.evaluate(genome, campaign.spec, campaign.suite)

    return evaluator


def _request(campaign: Campaign, gid: str, fidelity: float) -> work.EvalRequest:
    return work.EvalRequest(campaign.id, gid, campaign.suite_id, fidelity_key(fidelity), 1)


def test_stages_then_full_run_each_case_once_and_count_only_the_full_evaluation(
    farm: tuple[MemoryStore, Campaign, CampaignCache],
) -> None:
    store, campaign, cache = farm
    runs: Counter[tuple[str, str]] = Counter()
    evaluator = _counting(runs)
    gid = campaign.seed_genomes[0]
    for fidelity in (0.2, 0.5, 1.0):
        request = _request(campaign, gid, fidelity)
        work.evaluate(store, cache, request, evaluator)
        work.evaluate(store, cache, request, evaluator)  # a redelivery runs nothing
    assert sum(runs.values()) == len(campaign.suite.cases) == 24
    assert max(runs.values()) == 1
    counters = store.counters(campaign.id)
    assert (counters["evaluations"], counters["case_runs"]) == (1, 24)
    # Stage subsets are nested: 5 cases, then 12, then all 24.
    docs = store.get_evaluations(
        campaign.id, [_request(campaign, gid, f).key for f in (0.2, 0.5, 1.0)]
    )
    assert [len(d["cases"]) for d in docs if d is not None] == [5, 12, 24]
    # The merged full evaluation is the one an evaluation from scratch gives.
    fresh = synthetic_eval.evaluate(
        store_genome(store, campaign, gid), campaign.spec, campaign.suite
    )
    assert Evaluation.model_validate(docs[2]) == fresh


def store_genome(store: MemoryStore, campaign: Campaign, gid: str) -> Genome:
    return work.load_genomes(store, campaign.id, [gid])[gid]


def test_a_higher_stage_reuses_the_highest_lower_one_stored(
    farm: tuple[MemoryStore, Campaign, CampaignCache],
) -> None:
    store, campaign, cache = farm
    runs: Counter[tuple[str, str]] = Counter()
    gid = campaign.seed_genomes[0]
    work.evaluate(store, cache, _request(campaign, gid, 0.5), _counting(runs))
    assert sum(runs.values()) == 12
    earlier = staged.earlier_evaluation(store, campaign, gid, 1.0)
    assert earlier is not None and earlier.fidelity == 0.5
    work.evaluate(store, cache, _request(campaign, gid, 1.0), _counting(runs))
    assert sum(runs.values()) == 24 and max(runs.values()) == 1


def test_a_fidelity_that_is_no_stage_is_refused(
    farm: tuple[MemoryStore, Campaign, CampaignCache],
) -> None:
    store, campaign, cache = farm
    request = _request(campaign, campaign.seed_genomes[0], 0.3)
    with pytest.raises(StoreError, match="does not match"):
        work.evaluate(store, cache, request, _counting(Counter()))
    assert staged.nursery_fidelity(campaign, campaign.suite_id, "0.3") is None
    assert staged.nursery_fidelity(campaign, "s-other", campaign.fidelity) is None


def test_an_evaluation_that_ran_nothing_is_the_answer_at_the_stage(
    farm: tuple[MemoryStore, Campaign, CampaignCache],
) -> None:
    _, campaign, _ = farm
    genome = store_genome(farm[0], campaign, campaign.seed_genomes[0])
    seen: list[tuple[int, float]] = []

    def invalid(c: Campaign, g: Genome) -> Evaluation:  # what an invalid pipeline gets
        seen.append((len(c.suite.cases), c.spec.fidelity))
        return invalid_evaluation(
            suite_id=c.suite_id, fidelity=c.spec.fidelity, reason="bad step", genome_id=g.id
        )

    evaluation, ran = staged.evaluate_at(campaign, genome, 0.2, None, invalid)
    assert seen == [(5, 1.0)]  # only the stage's cases, each exactly once
    assert (evaluation.outcome, evaluation.fidelity, ran) == ("invalid", 0.2, 0)
    assert evaluation.suite_id == campaign.suite_id and evaluation.reason == "bad step"


def test_merging_matches_evaluate_pipeline_with_reuse_on_a_real_pipeline(
    farm: tuple[MemoryStore, Campaign, CampaignCache],
) -> None:
    _, campaign, _ = farm
    store = farm[0]
    genome = store_genome(store, campaign, campaign.seed_genomes[0])
    spec, suite = campaign.spec, campaign.suite
    inner = default_case_runner(runtime_factory(spec))
    runs: Counter[str] = Counter()

    def runner(pipeline: Pipeline, case: Case) -> Any:
        runs[case.id] += 1
        return inner(pipeline, case)

    def meter(case: Case) -> MeteredUsage:  # deterministic usage: no wall-clock latency
        return MeteredUsage(input_tokens=len(case.id), output_tokens=3, cost_usd=0.0, latency_ms=5)

    def evaluate(fidelity: float, reuse: Evaluation | None, on: Any = suite) -> Evaluation:
        return evaluate_pipeline(
            genome.to_pipeline(), on, case_runner=runner, fidelity=fidelity, config=spec.fitness,
            genome_id=genome.id, reuse=reuse.cases if reuse else (), meter=meter,
        )  # fmt: skip

    def worker(c: Campaign, g: Genome) -> Evaluation:
        return evaluate(c.spec.fidelity, None, c.suite)

    stage1 = evaluate(0.2, None)
    expected = evaluate(1.0, stage1)
    runs.clear()
    merged, ran = staged.evaluate_at(campaign, genome, 1.0, stage1, worker)
    assert merged == expected
    assert ran == sum(runs.values()) == 24 - 5 and max(runs.values()) == 1
