"""Redis restarted (SIGTERM or SIGKILL, back 3 s later, AOF on) and Redis stalled.

The scheduler rides the outage out (reconnect with backoff, re-read its
checkpoint, re-send what is missing): it never exits, the campaign completes
with the in-process best, and every evaluation is counted exactly once.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.scheduler.recovery import Backoff
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm.session import Farm

from .conftest import assert_exact_counts, in_process_best, restart_redis, wait_until

pytestmark = pytest.mark.integration

Demo = Callable[..., CampaignSpec]
FAST = SchedulerOptions(
    wait_s=0.2,
    lease_ttl_s=3.0,
    lease_wait_s=5.0,
    stall_s=12.0,
    outage_s=60.0,
    backoff=Backoff(first_s=0.1, max_s=1.0),
)


def _run(farm: Farm, campaign: str, fault: Callable[[], None]) -> tuple[object, Scheduler]:
    """Run the scheduler on a thread and inject ``fault`` from this one.

    The fault runs on the main thread because a restarted Redis dies with the
    thread that started it (``PR_SET_PDEATHSIG``).
    """
    scheduler = Scheduler(farm.store, farm.dispatcher(), campaign, options=FAST)
    outcome: list[object] = []
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            outcome.append(scheduler.run())
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=drive, name="scheduler")
    thread.start()
    try:
        fault()
    finally:
        thread.join(120)
    if errors:
        raise errors[0]
    assert outcome, "the scheduler did not end"
    return outcome[0], scheduler


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_redis_restart_is_ridden_out(farm: Farm, demo: Demo, sig: signal.Signals) -> None:
    spec = demo(generations=5)
    best, status, reason = in_process_best(spec, seed=21)
    campaign = control.submit(farm.store, spec, seed=21)
    assert farm.embedded is not None
    processes = farm.embedded

    def fault() -> None:
        wait_until(lambda: (c := farm.store.load_checkpoint(campaign)) is not None
                   and c.generation >= 1, what="generation 1")  # fmt: skip
        restart_redis(processes, sig, down_s=3.0)

    outcome, scheduler = _run(farm, campaign, fault)
    assert (outcome.status, outcome.reason) == (status, reason)  # type: ignore[attr-defined]
    assert scheduler.recoveries >= 1
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)


def test_redis_stall_is_ridden_out(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=4)
    best, status, reason = in_process_best(spec, seed=22)
    campaign = control.submit(farm.store, spec, seed=22)
    assert farm.embedded is not None
    pid = farm.embedded.redis.pid
    assert pid is not None

    def fault() -> None:
        wait_until(lambda: farm.store.load_checkpoint(campaign) is not None, what="seeds")
        os.kill(pid, signal.SIGSTOP)
        try:
            # Below the test farm's 4 s soft time limit: a task held longer than
            # that fails for good (the farm's rule), which is not what this tests.
            threading.Event().wait(2.5)
        finally:
            os.kill(pid, signal.SIGCONT)

    outcome, _ = _run(farm, campaign, fault)
    assert (outcome.status, outcome.reason) == (status, reason)  # type: ignore[attr-defined]
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)
