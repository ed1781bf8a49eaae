"""Steady state (``evolution.mode: steady``) on a real farm: budgets, counts, kill and resume."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import snapshot
from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.engine import EvolutionState
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from tests.integration.schedulers import FAST, scheduler_daemon, wait_generation
from tests.integration.test_farm_campaigns import Demo, assert_exact_counts

pytestmark = pytest.mark.integration


def steady(spec: CampaignSpec) -> CampaignSpec:
    return spec.model_copy(
        update={"evolution": spec.evolution.model_copy(update={"mode": "steady"})}
    )


def _state(farm: Farm, campaign: str) -> EvolutionState:
    checkpoint = farm.store.load_checkpoint(campaign)
    assert checkpoint is not None
    return EvolutionState.model_validate(checkpoint.state)


def test_steady_campaign_completes_within_its_evaluation_cap(farm: Farm, demo: Demo) -> None:
    campaign = control.submit(farm.store, steady(demo(generations=40, max_evaluations=30)), seed=3)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert outcome.status == "stopped" and outcome.reason.startswith("budget exceeded: evaluations")
    # The final phase's evaluations (at most 5: finalists, then one simplified
    # winner) come on top of the cap, as README says.
    assert farm.store.counters(campaign)["evaluations"] <= 30 + 5
    assert_exact_counts(farm, campaign)
    state = _state(farm, campaign)
    assert state.steady is not None and state.steady.told == state.counters.tasks > 0
    assert farm.store.inflight(campaign) == set()


def test_steady_campaign_runs_every_birth(farm: Farm, demo: Demo) -> None:
    campaign = control.submit(farm.store, steady(demo(generations=4)), seed=8)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == ("completed", "ran 4 generations")
    state = _state(farm, campaign)
    assert state.steady is not None and state.steady.told == state.counters.tasks == 4 * 6
    assert state.best_history == sorted(state.best_history)
    assert_exact_counts(farm, campaign)


@pytest.mark.slow
def test_steady_scheduler_sigkilled_then_resumed(
    farm: Farm, demo: Demo, farm_env: dict[str, str]
) -> None:
    campaign = control.submit(farm.store, steady(demo(generations=8)), seed=12)
    assert farm.embedded is not None
    scheduler = scheduler_daemon(campaign, farm.embedded.redis_url, farm_env)
    wait_generation(farm, campaign, 2)
    scheduler.send_signal(signal.SIGKILL)
    scheduler.wait(10)
    assert snapshot(farm.store, campaign).status == "running"
    outcome = run_scheduler(farm, campaign, options=FAST)  # waits out the dead lease
    assert (outcome.status, outcome.reason) == ("completed", "ran 8 generations")
    state = _state(farm, campaign)
    assert state.steady is not None and state.steady.told == state.counters.tasks == 8 * 6
    assert state.steady.open == []
    assert_exact_counts(farm, campaign)
    assert farm.store.inflight(campaign) == set()


def test_steady_kill_ends_at_once_and_every_evaluation_has_its_row(farm: Farm, demo: Demo) -> None:
    campaign = control.submit(farm.store, steady(demo(generations=500)), seed=6)

    def kill() -> None:
        control.kill(farm.store, campaign, farm.dispatcher().revoke)

    timer = threading.Timer(1.5, kill)
    started = time.monotonic()
    timer.start()
    outcome = run_scheduler(farm, campaign, options=FAST)
    timer.join()
    assert outcome.status == "killed"
    assert time.monotonic() - started < 1.5 + 6
    assert farm.store.counters(campaign)["evaluations"] > 0
    assert_exact_counts(farm, campaign)
