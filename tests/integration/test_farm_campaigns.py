"""Whole campaigns on a real farm: same best as in-process, faults, stop/kill, budgets."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Collection

import pytest

from evofarm.campaign import control, lifecycle
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports.readback import best_genome_id, snapshot
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm.embedded import group_members
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from evofarm.testing.synthetic_eval import loop_evaluator
from tests.integration.schedulers import FAST, run_killed_after, sigkill_scheduler_at

pytestmark = pytest.mark.integration

Demo = Callable[..., CampaignSpec]


def in_process(spec: CampaignSpec, seed: int) -> tuple[str | None, str, str]:
    result = run_in_process(spec, seed=seed, evaluator=loop_evaluator(spec, spec.load_suite()))
    return result.summary.best.genome, result.summary.status, result.summary.reason


def assert_exact_counts(farm: Farm, campaign: str) -> None:
    counters = farm.store.counters(campaign)
    assert counters.get("evaluations", 0) == len(farm.store.evaluation_keys(campaign))
    assert len(farm.store.read_history(campaign)) == counters.get("evaluations", 0)


def test_two_workers_give_the_in_process_best(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=4)
    best, status, reason = in_process(spec, seed=11)
    campaign = control.submit(farm.store, spec, seed=11)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == (status, reason)
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)
    assert farm.store.inflight(campaign) == set()


def test_two_campaigns_at_once_do_not_interfere(farm: Farm, demo: Demo) -> None:
    specs = {7: demo(generations=3), 8: demo(generations=3)}
    expected = {seed: in_process(spec, seed)[0] for seed, spec in specs.items()}
    ids = {seed: control.submit(farm.store, spec, seed=seed) for seed, spec in specs.items()}
    outcomes: dict[int, str] = {}

    def run(seed: int) -> None:
        outcomes[seed] = run_scheduler(farm, ids[seed], options=FAST).status

    threads = [threading.Thread(target=run, args=(seed,)) for seed in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert outcomes == {7: "completed", 8: "completed"}
    for seed, campaign in ids.items():
        top = best_genome_id(farm.store, campaign)
        assert top is not None and top[0] == expected[seed]
        assert_exact_counts(farm, campaign)


def test_budget_stops_like_in_process(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=30, max_tokens=2000)
    best, status, reason = in_process(spec, seed=3)
    assert status == "stopped" and "tokens" in reason
    campaign = control.submit(farm.store, spec, seed=3)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == (status, reason)
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best


def test_evaluation_cap_never_exceeded(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=30, max_evaluations=25)
    best, status, reason = in_process(spec, seed=4)
    campaign = control.submit(farm.store, spec, seed=4)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == (status, reason)
    # The final phase's evaluations (at most 5: finalists, then one simplified
    # winner) come on top of the cap, as README says.
    assert farm.store.counters(campaign)["evaluations"] <= 25 + 5
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best


def test_stop_finishes_the_generation(farm: Farm, demo: Demo) -> None:
    campaign = control.submit(farm.store, demo(generations=500), seed=5)
    timer = threading.Timer(1.0, lifecycle.request_stop, args=(farm.store, campaign))
    timer.start()
    outcome = run_scheduler(farm, campaign, options=FAST)
    timer.join()
    assert (outcome.status, outcome.reason) == ("stopped", "stopped by user")
    checkpoint = farm.store.load_checkpoint(campaign)
    assert checkpoint is not None and checkpoint.generation == outcome.generation
    assert_exact_counts(farm, campaign)


def test_kill_revokes_in_flight_tasks_at_once(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=500)
    campaign = control.submit(farm.store, spec, seed=6)
    revoked: list[str] = []

    def revoke(ids: Collection[str]) -> None:
        revoked.extend(ids)
        farm.dispatcher().revoke(ids)

    outcome, elapsed = run_killed_after(farm, campaign, 1.5, revoke)
    assert outcome.status == "killed"
    assert elapsed < 1.5 + 5
    record = farm.store.get_campaign(campaign)
    assert record is not None and record.status == "killed"
    # 1.5 s into a 500-generation campaign some tasks were out: they were the
    # ones revoked, and the in-flight set was emptied with them.
    assert revoked and len(set(revoked)) == len(revoked)
    assert farm.store.inflight(campaign) == set()


@pytest.mark.slow
def test_scheduler_sigkilled_then_resumed_gives_the_same_best(
    farm: Farm, demo: Demo, farm_env: dict[str, str]
) -> None:
    spec = demo(generations=8)
    best, status, _ = in_process(spec, seed=12)
    campaign = control.submit(farm.store, spec, seed=12)
    sigkill_scheduler_at(farm, campaign, farm_env, generation=2)
    assert snapshot(farm.store, campaign).status == "running"  # it had no chance to say
    outcome = run_scheduler(farm, campaign, options=FAST)  # waits out the dead lease
    assert outcome.status == status
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)


@pytest.mark.slow
def test_worker_sigkilled_mid_evaluation_loses_and_double_counts_nothing(
    farm: Farm, demo: Demo
) -> None:
    spec = demo(generations=6)
    best, status, _ = in_process(spec, seed=13)
    campaign = control.submit(farm.store, spec, seed=13)
    assert farm.embedded is not None
    victim = farm.embedded.processes[0]

    def kill_worker() -> None:
        # Wait until evaluations are in flight, then kill the whole worker at once.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(farm.store.inflight(campaign)) < 2:
            time.sleep(0.01)
        os.killpg(victim.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_worker)
    killer.start()
    outcome = run_scheduler(farm, campaign, options=FAST)
    killer.join()
    victim.wait(10)
    assert group_members(victim.pid) == []
    assert outcome.status == status
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)
    farm.embedded.add_worker()  # leave two workers for later tests
