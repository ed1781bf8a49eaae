"""Split evaluations: shards of one genome's cases merge into the unsplit evaluation."""

from __future__ import annotations

import itertools

import pytest

from evofarm.campaign import lifecycle
from evofarm.campaign.bundle import Campaign, CampaignCache
from evofarm.campaign.worker import shards, work
from evofarm.errors import BudgetExceeded, StoreError
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.fitness.runner import select_cases
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval


def _request(store: MemoryStore, cache: CampaignCache, cid: str, n: int) -> work.EvalRequest:
    c = cache.get(store, cid)
    return work.EvalRequest(cid, c.seed_genomes[0], c.suite_id, c.fidelity, 0, shards=n)


def test_shard_count_keeps_every_shard_at_least_min_cases() -> None:
    assert shards.shard_count(24, 2, 16) == 12
    assert shards.shard_count(24, 2, 5) == 5
    assert shards.shard_count(24, 5, 16) == 4
    assert shards.shard_count(3, 2, 16) == 1
    assert shards.shard_count(24, 0, 16) == 1  # splitting off
    assert shards.shard_count(24, 2, 1) == 1


def test_shard_campaigns_partition_the_fidelity_subset(
    farm: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = farm
    campaign = cache.get(store, cid)
    everything = [c.id for c in select_cases(campaign.suite, campaign.spec.fidelity)]
    parts = [shards.shard_campaign(campaign, i, 5) for i in range(5)]
    ids = [c.id for p in parts for c in select_cases(p.suite, p.spec.fidelity)]
    assert sorted(ids) == everything and len(ids) == len(set(ids))
    with pytest.raises(StoreError, match="out of range"):
        shards.shard_campaign(campaign, 5, 5)


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 1, 0, 2), (2, 2, 0, 3, 1, 3)])
def test_split_evaluation_equals_the_unsplit_one_in_any_order(
    farm: tuple[MemoryStore, str, CampaignCache], order: tuple[int, ...]
) -> None:
    store, cid, cache = farm
    evaluator = synthetic_eval.factory(2)
    request = _request(store, cache, cid, 4)
    campaign = cache.get(store, cid)
    genome = work.load_genomes(store, cid, [request.genome_id])[request.genome_id]
    whole = evaluator(campaign, genome).model_dump(mode="json")
    results = [work.evaluate(store, cache, request.split()[i], evaluator) for i in order]
    first_complete = order.index(max(set(order), key=order.index))  # the last distinct shard
    for result in results[:first_complete]:
        assert "shard" in result  # partial: nothing recorded yet
    assert results[first_complete] == whole
    assert store.get_evaluation(cid, request.key) == whole
    assert store.counters(cid)["evaluations"] == 1
    events = []
    while (event := store.wait_event(cid, lifecycle.EVENTS, 0)) is not None:
        events.append(event)
    # One signal from the merge, one per redelivered shard after it.
    assert len(events) == len(order) - first_complete
    assert all(e["type"] == "evaluated" and e["evaluation"] == whole for e in events)


def test_a_shard_refused_by_the_budget_fails_the_whole_evaluation(
    farm: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = farm
    inner = synthetic_eval.factory(1)

    @shards.splittable
    def evaluator(campaign: Campaign, genome: Genome) -> Evaluation:
        if any(c.id == "02-turing" for c in campaign.suite.cases):
            raise BudgetExceeded("usd", "usd budget spent")
        return inner(campaign, genome)

    request = _request(store, cache, cid, 3)
    for part in request.split():
        work.evaluate(store, cache, part, evaluator)
    stored = store.get_evaluation(cid, request.key)
    assert stored is not None
    evaluation = Evaluation.model_validate(stored)
    assert (evaluation.outcome, evaluation.score, evaluation.cases) == ("budget", 0.0, [])
    assert evaluation.suite_id == request.suite_id
    assert store.counters(cid)["failures"] == store.counters(cid)["evaluations"] == 1


def test_an_unsplittable_evaluator_runs_whole_in_shard_zero(
    farm: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = farm
    calls: list[int] = []

    def evaluator(campaign: Campaign, genome: Genome) -> Evaluation:
        calls.append(len(campaign.suite.cases))
        return synthetic_eval.evaluate(genome, campaign.spec, campaign.suite)

    request = _request(store, cache, cid, 4)
    results = [work.evaluate(store, cache, part, evaluator) for part in request.split()[::-1]]
    assert calls == [len(cache.get(store, cid).suite.cases)]
    assert all(r.get("skipped") == "not splittable" for r in results[:3])
    assert store.get_evaluation(cid, request.key) == results[3]


def test_in_process_split_scores_the_cases_as_the_unsplit_run(
    farm: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = farm
    evaluator = work.in_process_evaluator(2)
    campaign = cache.get(store, cid)
    request = _request(store, cache, cid, 3)
    genome = work.load_genomes(store, cid, [request.genome_id])[request.genome_id]
    whole = evaluator(campaign, genome)
    for part in request.split():
        work.evaluate(store, cache, part, evaluator)
    stored = store.get_evaluation(cid, request.key)
    assert stored is not None
    split = Evaluation.model_validate(stored)
    # Latencies are wall times (they differ run to run); what the checks say does not.
    assert (split.test_rate, split.gates, split.outcome) == (
        whole.test_rate,
        whole.gates,
        whole.outcome,
    )
    pairs = itertools.zip_longest(split.cases, whole.cases)
    assert all(a is not None and b is not None for a, b in pairs)
    assert [(c.case_id, c.passed_checks, c.output_excerpt) for c in split.cases] == [
        (c.case_id, c.passed_checks, c.output_excerpt) for c in whole.cases
    ]


def test_requests_carry_the_shard_only_when_split() -> None:
    whole = work.EvalRequest("c", "g", "s", "1.0", 3)
    assert whole.to_args() == ["c", "g", "s", "1.0", 3] and whole.split() == [whole]
    split = work.EvalRequest("c", "g", "s", "1.0", 3, shards=2)
    assert [r.to_args() for r in split.split()] == [
        ["c", "g", "s", "1.0", 3, 0, 2],
        ["c", "g", "s", "1.0", 3, 1, 2],
    ]
