"""Breeding in the scheduler: the same children, results and checkpoints as breed tasks."""

from __future__ import annotations

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import CampaignCache
from evofarm.campaign.scheduler.breeding import Breeding, LocalBreeder, needs_worker
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.worker import work
from evofarm.evolution.engine import BreedTask, EvolutionState, plan_generation
from evofarm.store.memory import MemoryStore
from tests.campaign.scheduler.test_driver import _spec, farm_eval


def _run(seed: int, *, breeding: Breeding) -> tuple[MemoryStore, str, ThreadDispatcher]:
    store = MemoryStore()
    cid = control.submit(store, _spec(generations=4), seed=seed)
    dispatcher = ThreadDispatcher(store, farm_eval, workers=3)
    # Unsplit evaluations: the task counts below are one task per evaluation.
    options = SchedulerOptions(wait_s=0.2, breeding=breeding, batch_size=4, split_cases=0)
    try:
        assert Scheduler(store, dispatcher, cid, options=options).run().status == "completed"
    finally:
        dispatcher.close()
    return store, cid, dispatcher


@pytest.mark.parametrize("breeding", ["scheduler", "batch"])
def test_scheduler_and_batch_breeding_give_the_breed_tasks_campaign_exactly(
    breeding: Breeding,
) -> None:
    here, cid_here, sent_here = _run(7, breeding=breeding)
    tasks, cid_tasks, sent_tasks = _run(7, breeding="tasks")
    ckpt_here, ckpt_tasks = here.load_checkpoint(cid_here), tasks.load_checkpoint(cid_tasks)
    assert ckpt_here is not None and ckpt_tasks is not None
    state_here = EvolutionState.model_validate(ckpt_here.state)
    state_tasks = EvolutionState.model_validate(ckpt_tasks.state)
    # Everything but the campaign id (a fresh one per submission) is identical.
    assert state_here.model_dump(exclude={"campaign"}) == state_tasks.model_dump(
        exclude={"campaign"}
    )
    for generation in range(1, 5):
        assert here.task_results(cid_here, generation, work.BREED) == tasks.task_results(
            cid_tasks, generation, work.BREED
        )
    assert here.genome_ids(cid_here) == tasks.genome_ids(cid_tasks)
    edges = sorted((e["parent"], e["child"], e["generation"]) for e in here.lineage(cid_here))
    assert edges == sorted(
        (e["parent"], e["child"], e["generation"]) for e in tasks.lineage(cid_tasks)
    )
    # In the scheduler no breed task goes out; in batches, one per 4 children (6 a generation).
    evaluations = here.counters(cid_here)["evaluations"]
    assert sent_here.sent == evaluations + (0 if breeding == "scheduler" else 4 * 2)
    assert sent_tasks.sent == evaluations + state_tasks.counters.tasks
    assert len(here.read_history(cid_here)) == evaluations


def test_local_breeder_matches_the_worker_task() -> None:
    store = MemoryStore()
    cid = control.submit(store, _spec(generations=2), seed=11)
    dispatcher = ThreadDispatcher(store, farm_eval, workers=2)
    try:
        Scheduler(store, dispatcher, cid, options=SchedulerOptions(wait_s=0.2)).run()
    finally:
        dispatcher.close()
    checkpoint = store.load_checkpoint(cid)
    assert checkpoint is not None
    state = EvolutionState.model_validate(checkpoint.state)
    campaign = CampaignCache().get(store, cid)
    planned = plan_generation(state, campaign.spec)
    assert {t.kind for t in planned} == {"mutate", "crossover"}
    # Generation 3 was never run: breed it both ways, each on a fresh (active)
    # campaign holding the ended one's genomes and evaluations.
    copies = [_copy_of(store, cid, seed=11) for _ in range(2)]
    (worker_store, worker_cid), (here_store, here_cid) = copies
    by_worker = [
        work.breed(worker_store, CampaignCache(), t.model_copy(update={"campaign": worker_cid})
                   .model_dump(mode="json"))
        for t in planned
    ]  # fmt: skip
    renamed = [t.model_copy(update={"campaign": here_cid}) for t in planned]
    made = LocalBreeder(here_store, CampaignCache().get(here_store, here_cid)).breed(renamed)
    assert [r.model_dump(mode="json") for r, _ in made] == by_worker
    assert any(r.genome is not None for r, _ in made)
    assert here_store.task_results(here_cid, 3, work.BREED) == worker_store.task_results(
        worker_cid, 3, work.BREED
    )
    for gid in worker_store.genome_ids(worker_cid):
        assert here_store.get_genome(here_cid, gid) == worker_store.get_genome(worker_cid, gid)
    assert here_store.genome_ids(here_cid) == worker_store.genome_ids(worker_cid)


def _copy_of(store: MemoryStore, cid: str, seed: int) -> tuple[MemoryStore, str]:
    other = MemoryStore()
    cid_other = control.submit(other, _spec(generations=2), seed=seed)
    for gid in sorted(store.genome_ids(cid)):
        doc = store.get_genome(cid, gid)
        assert doc is not None
        other.put_genome(cid_other, doc)
    for key in store.evaluation_keys(cid):
        doc = store.get_evaluation(cid, key)
        assert doc is not None
        other.record_evaluation(cid_other, key, doc, tokens=0, cost_micro_usd=0, failed=False)
    return other, cid_other


def test_llm_operators_stay_on_the_breed_queue() -> None:
    planned_ops = [["llm_mutation"], ["step_mutation", "llm_crossover"], ["step_mutation"], []]
    base = {"campaign": "c", "seed": 1, "generation": 1, "slot": 0, "kind": "mutate",
            "parents": ["p"]}  # fmt: skip
    tasks = [BreedTask.model_validate({**base, "operators": o}) for o in planned_ops]
    assert [needs_worker(t) for t in tasks] == [True, True, False, False]
    store = MemoryStore()
    cid = control.submit(store, _spec(), seed=1)
    breeder = LocalBreeder(store, CampaignCache().get(store, cid))
    with pytest.raises(ValueError, match="LLM operators"):
        breeder.breed(tasks[:1])
