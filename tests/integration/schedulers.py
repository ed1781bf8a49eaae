"""Scheduler helpers for farm tests: fast options, a scheduler daemon process, waiting for it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from evofarm.campaign.scheduler.driver import SchedulerOptions
from evofarm.farm.session import Farm

# As scheduler_options() derives them from the test farm's settings (visibility 6 s).
FAST = SchedulerOptions(wait_s=0.2, lease_ttl_s=3.0, lease_wait_s=5.0, stall_s=12.0)


def scheduler_daemon(campaign: str, redis_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``evofarm.farm.daemon`` driving ``campaign`` on the farm at ``redis_url`` (broker and
    store), with the workers' ``env``; in a session of its own so it can be killed alone."""
    full = {**os.environ, **env, "EVOFARM_BROKER_URL": redis_url, "EVOFARM_REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "-m", "evofarm.farm.daemon", "--campaign", campaign],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_generation(farm: Farm, campaign: str, generation: int, timeout: float = 60) -> None:
    """Return once ``campaign`` has a checkpoint at ``generation`` or later; fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checkpoint = farm.store.load_checkpoint(campaign)
        if checkpoint is not None and checkpoint.generation >= generation:
            return
        time.sleep(0.05)
    raise AssertionError(f"generation {generation} not reached")
