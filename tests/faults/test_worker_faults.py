"""Workers SIGKILLed three times mid-campaign: nothing lost, nothing counted twice.

Each kill takes a whole worker (main process and pool) while evaluations are in
flight; its tasks come back after the visibility timeout (heartbeats stop with
the worker) and a fresh worker joins. The best equals the in-process best.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm.embedded import group_members
from evofarm.farm.session import Farm

from .conftest import assert_exact_counts, in_process_best

pytestmark = pytest.mark.integration

Demo = Callable[..., CampaignSpec]
FAST = SchedulerOptions(wait_s=0.2, lease_ttl_s=3.0, stall_s=12.0)


def test_three_worker_sigkills_lose_and_double_count_nothing(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=6)
    best, status, reason = in_process_best(spec, seed=41)
    campaign = control.submit(farm.store, spec, seed=41)
    processes = farm.embedded
    assert processes is not None
    killed: list[int] = []

    def kill_three() -> None:
        for _ in range(3):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(farm.store.inflight(campaign)) < 2:
                time.sleep(0.01)
            victim = next(p for p in processes.processes if p.poll() is None)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(10)
            killed.append(victim.pid)
            processes.add_worker()  # a fresh worker joins, as a supervisor would start one
            time.sleep(0.5)

    killer = threading.Thread(target=kill_three)
    killer.start()
    outcome = Scheduler(farm.store, farm.dispatcher(), campaign, options=FAST).run()
    killer.join()
    assert len(killed) == 3
    assert all(group_members(pid) == [] for pid in killed)
    assert (outcome.status, outcome.reason) == (status, reason)
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)
