"""Steady state (``evolution.mode: steady``) on a real farm: budgets, counts, kill and resume."""

from __future__ import annotations

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import snapshot
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from tests.integration.conftest import steady
from tests.integration.schedulers import (
    FAST,
    checkpoint_state,
    run_killed_after,
    sigkill_scheduler_at,
)
from tests.integration.test_farm_campaigns import Demo, assert_exact_counts

pytestmark = pytest.mark.integration


def test_steady_campaign_completes_within_its_evaluation_cap(farm: Farm, demo: Demo) -> None:
    campaign = control.submit(farm.store, steady(demo(generations=40, max_evaluations=30)), seed=3)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert outcome.status == "stopped" and outcome.reason.startswith("budget exceeded: evaluations")
    # The final phase's evaluations (at most 5: finalists, then one simplified
    # winner) come on top of the cap, as README says.
    assert farm.store.counters(campaign)["evaluations"] <= 30 + 5
    assert_exact_counts(farm, campaign)
    state = checkpoint_state(farm, campaign)
    assert state.steady is not None and state.steady.told == state.counters.tasks > 0
    assert farm.store.inflight(campaign) == set()


def test_steady_campaign_runs_every_birth(farm: Farm, demo: Demo) -> None:
    campaign = control.submit(farm.store, steady(demo(generations=4)), seed=8)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == ("completed", "ran 4 generations")
    state = checkpoint_state(farm, campaign)
    assert state.steady is not None and state.steady.told == state.counters.tasks == 4 * 6
    assert state.best_history == sorted(state.best_history)
    assert_exact_counts(farm, campaign)


@pytest.mark.slow
def test_steady_scheduler_sigkilled_then_resumed(
    farm: Farm, demo: Demo, farm_env: dict[str, str]
) -> None:
    campaign = control.submit(farm.store, steady(demo(generations=8)), seed=12)
    sigkill_scheduler_at(farm, campaign, farm_env, generation=2)
    assert snapshot(farm.store, campaign).status == "running"
    outcome = run_scheduler(farm, campaign, options=FAST)  # waits out the dead lease
    assert (outcome.status, outcome.reason) == ("completed", "ran 8 generations")
    state = checkpoint_state(farm, campaign)
    assert state.steady is not None and state.steady.told == state.counters.tasks == 8 * 6
    assert state.steady.open == []
    assert_exact_counts(farm, campaign)
    assert farm.store.inflight(campaign) == set()


def test_steady_kill_ends_at_once_and_every_evaluation_has_its_row(farm: Farm, demo: Demo) -> None:
    campaign = control.submit(farm.store, steady(demo(generations=500)), seed=6)
    outcome, elapsed = run_killed_after(farm, campaign, 1.5)
    assert outcome.status == "killed"
    assert elapsed < 1.5 + 6
    assert farm.store.counters(campaign)["evaluations"] > 0
    assert_exact_counts(farm, campaign)
