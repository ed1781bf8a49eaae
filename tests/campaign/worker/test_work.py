"""Worker-side work: idempotent breed and evaluate, the museum, evaluator loading."""

from __future__ import annotations

import pytest

from evofarm.campaign import lifecycle
from evofarm.campaign.bundle import Campaign, CampaignCache
from evofarm.campaign.worker import work
from evofarm.errors import StoreError, UserInputError
from evofarm.evolution.engine import EvolutionState, plan_generation, seed_state
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation, invalid_evaluation
from evofarm.store.base import EvalKey
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval


def _request(store: MemoryStore, cache: CampaignCache, cid: str, gid: str) -> work.EvalRequest:
    c = cache.get(store, cid)
    return work.EvalRequest(cid, gid, c.suite_id, c.fidelity, 0)


def test_evaluate_runs_once_records_once_and_signals_each_time(
    farm: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = farm
    calls: list[str] = []

    def evaluator(campaign: Campaign, genome: Genome) -> Evaluation:
        calls.append(genome.id)
        return synthetic_eval.evaluate(genome, campaign.spec, campaign.suite)

    seed = cache.get(store, cid).seed_genomes[0]
    request = _request(store, cache, cid, seed)
    first = work.evaluate(store, cache, request, evaluator)
    again = work.evaluate(store, cache, request, evaluator)
    assert first == again and calls == [seed]
    assert store.counters(cid)["evaluations"] == 1
    events = [store.wait_event(cid, lifecycle.EVENTS, 0) for _ in range(2)]
    assert all(e is not None and e["type"] == "evaluated" for e in events)


def test_failed_candidates_go_to_the_museum(farm: tuple[MemoryStore, str, CampaignCache]) -> None:
    store, cid, cache = farm
    seed = cache.get(store, cid).seed_genomes[0]

    def broken(campaign: Campaign, genome: Genome) -> Evaluation:
        return invalid_evaluation(
            suite_id=campaign.suite_id,
            fidelity=1.0,
            reason="dangling reference",
            genome_id=genome.id,
        )

    work.evaluate(store, cache, _request(store, cache, cid, seed), broken)
    [entry] = store.museum(cid)
    assert entry["genome"] == seed and entry["reason"] == "dangling reference"
    assert store.counters(cid)["failures"] == 1


def test_evaluate_refuses_a_mismatched_suite_and_skips_ended_campaigns(
    farm: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = farm
    seed = cache.get(store, cid).seed_genomes[0]
    evaluator = synthetic_eval.factory(1)
    with pytest.raises(StoreError, match="does not match"):
        work.evaluate(store, cache, work.EvalRequest(cid, seed, "s-other", "1.0", 0), evaluator)
    lifecycle.mark_killed(store, cid)
    assert work.evaluate(store, cache, _request(store, cache, cid, seed), evaluator) == {
        "skipped": "campaign ended"
    }
    assert store.evaluation_keys(cid) == set()


def test_breed_is_idempotent(farm: tuple[MemoryStore, str, CampaignCache]) -> None:
    store, cid, cache = farm
    campaign = cache.get(store, cid)
    genomes = work.load_genomes(store, cid, list(campaign.seed_genomes))
    evaluations = {
        g.id: synthetic_eval.evaluate(g, campaign.spec, campaign.suite) for g in genomes.values()
    }
    state: EvolutionState = seed_state(
        campaign.spec, cid, campaign.seed, list(genomes.values()), evaluations
    )
    tasks = plan_generation(state, campaign.spec)
    for task in tasks:
        first = work.breed(store, cache, task.model_dump(mode="json"))
        lineage = len(store.lineage(cid))
        assert work.breed(store, cache, task.model_dump(mode="json")) == first
        assert len(store.lineage(cid)) == lineage
    results = store.task_results(cid, 1, work.BREED)
    assert sorted(results) == [t.slot for t in tasks]
    children = {r["genome"] for r in results.values() if r["genome"]}
    assert children <= store.genome_ids(cid)


def test_breed_with_a_missing_parent_is_a_store_error(
    farm: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = farm
    task = {"campaign": cid, "seed": 2, "generation": 1, "slot": 0, "kind": "mutate",
            "operators": ["step_mutation"], "parents": ["0" * 64]}  # fmt: skip
    with pytest.raises(StoreError, match="not in the store"):
        work.breed(store, cache, task)
    with pytest.raises(StoreError, match="malformed breed task"):
        work.breed(store, cache, {"campaign": cid})


def test_resolve_evaluator() -> None:
    assert callable(work.resolve_evaluator("evofarm.testing.synthetic_eval:factory", 2))
    for bad in ("nope.module:factory", "evofarm.testing.synthetic_eval:missing", "x"):
        with pytest.raises(UserInputError, match="EVOFARM_EVALUATOR"):
            work.resolve_evaluator(bad, 1)


def test_evaluation_keys_use_the_campaign_fidelity(
    farm: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = farm
    campaign = cache.get(store, cid)
    seed = campaign.seed_genomes[0]
    work.evaluate(store, cache, _request(store, cache, cid, seed), synthetic_eval.factory(1))
    assert store.evaluation_keys(cid) == {EvalKey(seed, campaign.suite_id, campaign.fidelity)}


def test_a_racing_redelivery_reports_the_stored_evaluation(
    farm: tuple[MemoryStore, str, CampaignCache],
) -> None:
    # Two deliveries of one task run at once; the one that records second must
    # announce and return what was stored, not its own (possibly different) result.
    store, cid, cache = farm
    seed = cache.get(store, cid).seed_genomes[0]
    request = _request(store, cache, cid, seed)

    def racing(campaign: Campaign, genome: Genome) -> Evaluation:
        mine = synthetic_eval.evaluate(genome, campaign.spec, campaign.suite)
        winner = mine.model_copy(update={"time_ms": mine.time_ms + 1234.0})
        store.record_evaluation(cid, request.key, winner.model_dump(mode="json"))
        return mine

    returned = work.evaluate(store, cache, request, racing)
    stored = store.get_evaluation(cid, request.key)
    assert stored is not None and returned == stored
    event = store.wait_event(cid, lifecycle.EVENTS, 0)
    assert event is not None and event["evaluation"] == stored
    assert store.counters(cid)["evaluations"] == 1
