"""Campaign lifecycle transitions and budgets bookkeeping (store-level, no farm)."""

from __future__ import annotations

import pytest

from evofarm.campaign import budgets, lifecycle
from evofarm.campaign.lifecycle import Status
from evofarm.campaign.spec import CampaignBudgets
from evofarm.errors import CampaignStateError
from evofarm.store.base import EvalKey
from evofarm.store.memory import MemoryStore

C = "c1"


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    s.create_campaign(C, {})
    return s


def test_submitted_running_completed(store: MemoryStore) -> None:
    lifecycle.mark_running(store, C)
    assert store.get_status(C) == "running"
    assert lifecycle.end(store, C, Status.COMPLETED, "ran 3 generations")
    assert not lifecycle.end(store, C, Status.FAILED, "too late")
    record = lifecycle.require(store, C)
    assert (record.status, record.reason) == ("completed", "ran 3 generations")
    with pytest.raises(CampaignStateError, match="cannot run again"):
        lifecycle.mark_running(store, C)


def test_end_needs_an_ending(store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="not an ending"):
        lifecycle.end(store, C, Status.RUNNING, "")


def test_stop_requests_survive_until_a_resume(store: MemoryStore) -> None:
    lifecycle.request_stop(store, C)  # before the first start: still honoured
    lifecycle.mark_running(store, C)
    assert lifecycle.stop_requested(lifecycle.require(store, C))
    assert store.wait_event(C, lifecycle.EVENTS, 0) == {"type": "stop"}
    lifecycle.end(store, C, Status.STOPPED, "stopped by user")
    with pytest.raises(CampaignStateError, match="already ended"):
        lifecycle.request_stop(store, C)
    lifecycle.mark_running(store, C, "resumed")  # resuming spends the old request
    assert not lifecycle.stop_requested(lifecycle.require(store, C))


def test_kill_wins_once_and_wakes_the_scheduler(store: MemoryStore) -> None:
    lifecycle.mark_running(store, C)
    assert lifecycle.mark_killed(store, C, "kill switch")
    assert not lifecycle.mark_killed(store, C)
    assert store.wait_event(C, lifecycle.EVENTS, 0) == {"type": "kill"}
    assert lifecycle.require(store, C).reason == "kill switch"
    with pytest.raises(CampaignStateError, match="no campaign"):
        lifecycle.mark_killed(store, "ghost")


def test_budget_limits_and_reasons(store: MemoryStore) -> None:
    spec_budgets = CampaignBudgets(max_evaluations=3, max_tokens=100, max_usd=0.5, max_wall_s=9)
    assert budgets.counter_limits(spec_budgets) == {"tokens": 100, "cost_micro_usd": 500_000}
    assert budgets.usd_to_micro(0.1234567) == 123_457
    store.set_budgets(C, budgets.counter_limits(spec_budgets))
    store.record_evaluation(C, EvalKey("g", "s", "1"), {}, tokens=150)
    assert store.crossed_budget(C) == "tokens"
    assert budgets.describe(store, C, "tokens", spec_budgets, 1.0) == (
        "budget exceeded: tokens (150 >= 100)"
    )
    assert budgets.describe(store, C, "wall_s", spec_budgets, 9.5) == (
        "budget exceeded: wall time (9.5s >= 9.0s)"
    )
    assert budgets.evaluations_exceeded(store, C, spec_budgets, 2) is None
    reason = budgets.evaluations_exceeded(store, C, spec_budgets, 3)
    assert reason == "budget exceeded: evaluations (1 done, 3 more needed, cap 3)"


def test_wall_time_budget_is_flagged(store: MemoryStore) -> None:
    spec_budgets = CampaignBudgets(max_wall_s=10)
    assert budgets.check_wall_time(store, C, spec_budgets, 9.9) is None
    assert budgets.check_wall_time(store, C, spec_budgets, 10.0) == "wall_s"
