"""The scheduler rides out store outages: backoff, lease check, rebuild from the store."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from evofarm.campaign import control
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.scheduler.recovery import Backoff, wait_until_reachable
from evofarm.errors import StoreError, StoreUnreachable
from evofarm.store.memory import MemoryStore

from .test_driver import _in_process_best, _spec, farm_eval

FAST = SchedulerOptions(wait_s=0.05, backoff=Backoff(first_s=0.01, max_s=0.05), outage_s=5.0)


class FlakyStore(MemoryStore):
    """A memory store whose scheduler-side calls fail while ``down`` is set.

    Workers (threads named ``evofarm-work``) still reach it, as workers on
    another link would; the scheduler's view is what an outage cuts.
    """

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()
        self.failures = 0
        self.waits = 0

    def _cut(self) -> None:
        if self.down.is_set() and not threading.current_thread().name.startswith("evofarm-work"):
            self.failures += 1
            raise StoreUnreachable("connection closed by server")

    def wait_event(self, campaign: str, channel: str, timeout: float) -> Any:
        self._cut()
        self.waits += 1
        return super().wait_event(campaign, channel, timeout)

    def get_status(self, campaign: str) -> str | None:
        self._cut()
        return super().get_status(campaign)

    def acquire_lease(self, campaign: str, owner: str, ttl_s: float) -> bool:
        self._cut()
        return super().acquire_lease(campaign, owner, ttl_s)


def _run(store: MemoryStore, campaign: str, options: SchedulerOptions) -> tuple[Any, Scheduler]:
    dispatcher = ThreadDispatcher(store, farm_eval, workers=3)
    scheduler = Scheduler(store, dispatcher, campaign, options=options)
    try:
        return scheduler.run(), scheduler
    finally:
        dispatcher.close()


def test_an_outage_mid_campaign_is_ridden_out_with_the_in_process_best() -> None:
    spec = _spec(generations=5)
    best, _, reason = _in_process_best(spec, seed=3)
    store = FlakyStore()
    campaign = control.submit(store, spec, seed=3)

    def outage() -> None:
        # Cut the store once the scheduler is waiting, for a few backoff rounds.
        while store.waits < 5:
            threading.Event().wait(0.01)
        store.down.set()
        threading.Event().wait(0.3)
        store.down.clear()

    cutter = threading.Thread(target=outage)
    cutter.start()
    outcome, scheduler = _run(store, campaign, FAST)
    cutter.join()
    assert (outcome.status, outcome.reason) == ("completed", reason)
    assert scheduler.recoveries >= 1 and store.failures >= 2
    checkpoint = store.load_checkpoint(campaign)
    assert checkpoint is not None and checkpoint.state["archive"][0]["id"] == best
    counters = store.counters(campaign)
    assert counters["evaluations"] == len(store.evaluation_keys(campaign))
    assert len(store.read_history(campaign)) == counters["evaluations"]
    assert store.inflight(campaign) == set()


def test_an_outage_longer_than_outage_s_raises_and_leaves_the_campaign_running() -> None:
    store = FlakyStore()
    campaign = control.submit(store, _spec(generations=50), seed=4)
    options = SchedulerOptions(wait_s=0.05, backoff=Backoff(first_s=0.01, max_s=0.02), outage_s=0.2)
    threading.Timer(0.3, store.down.set).start()
    with pytest.raises(StoreUnreachable, match="giving up"):
        _run(store, campaign, options)
    store.down.clear()
    assert store.get_status(campaign) == "running"  # left for another scheduler to adopt


def test_a_lease_taken_during_the_outage_makes_the_scheduler_step_back() -> None:
    store = FlakyStore()
    campaign = control.submit(store, _spec(generations=50), seed=5)

    def outage() -> None:
        while store.waits < 3:
            threading.Event().wait(0.01)
        store.down.set()
        # The outage outlasts the lease and another scheduler adopts the campaign.
        with store._lock:
            store._get(campaign).lease = ("the-adopter", time.monotonic() + 30)
        threading.Event().wait(0.1)
        store.down.clear()

    cutter = threading.Thread(target=outage)
    cutter.start()
    outcome, _ = _run(store, campaign, FAST)
    cutter.join()
    assert (outcome.status, outcome.reason) == ("running", "taken over by another scheduler")
    assert store.get_status(campaign) == "running"


def test_backoff_grows_to_its_cap_and_inconsistencies_are_not_ridden_out() -> None:
    delays = Backoff(first_s=0.1, max_s=0.5).delays()
    assert [next(delays) for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    slept: list[float] = []
    now = [0.0]

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    calls = iter([StoreUnreachable("down"), StoreUnreachable("down"), None])

    def probe() -> None:
        exc = next(calls)
        if exc is not None:
            raise exc

    wait_until_reachable(
        probe, outage_s=10, backoff=Backoff(0.1, 1.0), clock=lambda: now[0], sleep=sleep
    )
    assert slept == [0.1, 0.2, 0.4]

    def corrupt() -> None:
        raise StoreError("corrupt checkpoint")

    with pytest.raises(StoreError, match="corrupt"):
        wait_until_reachable(corrupt, outage_s=10, backoff=Backoff(), sleep=lambda s: None)
