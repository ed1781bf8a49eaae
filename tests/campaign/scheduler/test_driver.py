"""The scheduler against the in-process loop, on threads and the memory store.

A synthetic, deterministic evaluator (score from the genome's content hash)
stands in for running the suite, so these tests exercise the scheduling and
resumption logic alone, fast; tests/integration runs the real evaluation on
real worker processes.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from evofarm.campaign import control, lifecycle
from evofarm.campaign.bundle import Campaign
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.errors import CampaignStateError
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.fitness.suite import TaskSuite
from evofarm.store.memory import MemoryStore
from tests.campaign.scheduler.helpers import run_closing, run_interrupted

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"


def synthetic(genome: Genome, suite: TaskSuite, fidelity: float) -> Evaluation:
    digest = int(hashlib.sha256(genome.id.encode()).hexdigest()[:8], 16)
    score = (digest % 10_000) / 10_000
    tokens = 10 + digest % 7
    return Evaluation(
        genome_id=genome.id,
        suite_id=suite.id,
        fidelity=fidelity,
        tokens=tokens,
        cost_usd=tokens * 1e-6,
        score=score,
        objectives={
            "quality": score,
            "fitness": score,
            "tokens": float(tokens),
            "latency": 1.0,
            "cost": 0.0,
        },
    )


def farm_eval(campaign: Campaign, genome: Genome) -> Evaluation:
    return synthetic(genome, campaign.suite, campaign.spec.fidelity)


def _spec(generations: int = 5, **budgets: float) -> CampaignSpec:
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={"generations": generations, "population": 6, "offspring": 6,
                "target_fitness": None}
    )  # fmt: skip
    return spec.model_copy(
        update={"evolution": evolution, "budgets": spec.budgets.model_copy(update={
            "max_evaluations": None, "max_wall_s": None, **budgets})}
    )  # fmt: skip


def _in_process_best(spec: CampaignSpec, seed: int) -> tuple[str | None, float | None, str]:
    suite = spec.load_suite()
    result = run_in_process(spec, seed=seed, evaluator=lambda g: synthetic(g, suite, spec.fidelity))
    return result.summary.best.genome, result.summary.best.fitness, result.summary.reason


def _farm(store: MemoryStore, campaign: str, workers: int = 4) -> tuple[str, str, object]:
    dispatcher = ThreadDispatcher(store, farm_eval, workers=workers)
    outcome, _ = run_closing(store, dispatcher, campaign, SchedulerOptions(wait_s=0.2))
    checkpoint = store.load_checkpoint(campaign)
    assert checkpoint is not None
    return outcome.status, outcome.reason, checkpoint.state["archive"][0]


@pytest.mark.parametrize("workers", [1, 4])
def test_same_best_as_in_process(workers: int) -> None:
    spec = _spec()
    best, fitness, reason = _in_process_best(spec, seed=3)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=3)
    status, farm_reason, top = _farm(store, cid, workers)
    assert (status, farm_reason) == ("completed", reason)
    assert (top["id"], top["fitness"]) == (best, fitness)
    counters = store.counters(cid)
    assert counters["evaluations"] == len(store.evaluation_keys(cid))
    assert counters.get("duplicates", 0) == 0
    assert len(store.read_history(cid)) == counters["evaluations"]


def test_evaluation_cap_stops_like_the_loop() -> None:
    spec = _spec(generations=30, max_evaluations=20)
    best, fitness, reason = _in_process_best(spec, seed=5)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=5)
    status, farm_reason, top = _farm(store, cid)
    assert status == "stopped" and farm_reason == reason
    assert reason.startswith("budget exceeded: evaluations")
    assert (top["id"], top["fitness"]) == (best, fitness)
    assert store.counters(cid)["evaluations"] <= 20


def test_token_budget_stops_after_the_generation() -> None:
    spec = _spec(generations=30, max_tokens=150)
    best, _, reason = _in_process_best(spec, seed=2)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=2)
    status, farm_reason, top = _farm(store, cid)
    assert status == "stopped" and farm_reason == reason
    assert top["id"] == best
    assert store.crossed_budget(cid) == "tokens"


def test_resume_after_an_interruption_gives_the_same_best() -> None:
    spec = _spec(generations=6)
    best, fitness, _ = _in_process_best(spec, seed=4)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=4)
    dispatcher = ThreadDispatcher(store, farm_eval, workers=2)
    # Interrupt as soon as generation 2 is checkpointed.
    outcome = run_interrupted(store, dispatcher, cid, SchedulerOptions(wait_s=0.05), generation=2)
    assert (outcome.status, outcome.reason) == ("stopped", "interrupted")
    status, _, top = _farm(store, cid)
    assert status == "completed"
    assert (top["id"], top["fitness"]) == (best, fitness)
    assert store.counters(cid).get("duplicates", 0) == 0


def test_stop_finishes_the_generation_and_kill_ends_at_once() -> None:
    store = MemoryStore()
    cid = control.submit(store, _spec(generations=50), seed=1)
    lifecycle.request_stop(store, cid)  # before it runs: stops after generation 0
    status, reason, _ = _farm(store, cid)
    assert (status, reason) == ("stopped", "stopped by user")
    assert store.load_checkpoint(cid) is not None

    cid2 = control.submit(store, _spec(generations=500), seed=1)
    revoked: list[str] = []
    timer = threading.Timer(0.3, lambda: control.kill(store, cid2, revoked.extend))
    timer.start()
    status, reason, _ = _farm(store, cid2)
    timer.join()
    assert (status, reason) == ("killed", "killed")
    record = store.get_campaign(cid2)
    assert record is not None and record.status == "killed"


def test_a_second_scheduler_is_refused() -> None:
    store = MemoryStore()
    cid = control.submit(store, _spec(), seed=1)
    assert store.acquire_lease(cid, "someone-else", 30)
    dispatcher = ThreadDispatcher(store, farm_eval)
    with pytest.raises(CampaignStateError, match="scheduled elsewhere"):
        Scheduler(store, dispatcher, cid).run()
    dispatcher.close()


def test_completed_campaigns_do_not_run_again() -> None:
    store = MemoryStore()
    cid = control.submit(store, _spec(generations=1), seed=1)
    assert _farm(store, cid)[0] == "completed"
    with pytest.raises(CampaignStateError, match="cannot run again"):
        _farm(store, cid)


def test_usd_budget_stops_like_the_loop() -> None:
    spec = _spec(generations=30, max_usd=0.0003)
    best, _, reason = _in_process_best(spec, seed=6)
    assert reason.startswith("budget exceeded: usd")
    store = MemoryStore()
    cid = control.submit(store, spec, seed=6)
    status, farm_reason, top = _farm(store, cid)
    assert status == "stopped" and farm_reason.startswith("budget exceeded: usd")
    assert top["id"] == best
    assert store.crossed_budget(cid) == "cost_micro_usd"


def test_wall_time_budget() -> None:
    store = MemoryStore()
    cid = control.submit(store, _spec(generations=50, max_wall_s=100), seed=1)
    ticks = iter(range(1_000_000))  # every clock reading is a second later

    dispatcher = ThreadDispatcher(store, farm_eval)
    scheduler = Scheduler(
        store, dispatcher, cid, options=SchedulerOptions(wait_s=0.2), clock=lambda: next(ticks)
    )
    outcome = scheduler.run()
    dispatcher.close()
    assert outcome.status == "stopped"
    assert outcome.reason.startswith("budget exceeded: wall time")
    assert store.crossed_budget(cid) == "wall_s"
    assert 0 < outcome.generation < 50
    wall = store.get_info(cid, "wall_s")
    assert wall is not None and float(wall) >= 100


def test_a_task_failing_for_good_fails_the_campaign() -> None:
    store = MemoryStore()
    cid = control.submit(store, _spec(), seed=1)

    def broken(campaign: Campaign, genome: Genome) -> Evaluation:
        raise RuntimeError("evaluator bug")

    dispatcher = ThreadDispatcher(store, broken)
    outcome = Scheduler(store, dispatcher, cid, options=SchedulerOptions(wait_s=0.2)).run()
    dispatcher.close()
    assert outcome.status == "failed"
    assert "evaluator bug" in outcome.reason
    record = store.get_campaign(cid)
    assert record is not None and record.status == "failed"
