"""Scheduler helpers for farm tests: fast options, a scheduler daemon process, waiting for it,
killing it (or the campaign) mid-run, the state it checkpointed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from evofarm.campaign import control
from evofarm.campaign.scheduler.driver import Outcome, SchedulerOptions
from evofarm.evolution.engine import EvolutionState
from evofarm.farm.runner import run_scheduler
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


def sigkill_scheduler_at(
    farm: Farm, campaign: str, env: dict[str, str], generation: int, timeout: float = 60
) -> None:
    """Run a :func:`scheduler_daemon` for ``campaign`` on the embedded ``farm`` until it has
    checkpointed ``generation`` (:func:`wait_generation`, ``timeout``), then SIGKILL it (no
    chance to say it stopped) and reap it; the campaign is left to a resumed scheduler."""
    assert farm.embedded is not None
    scheduler = scheduler_daemon(campaign, farm.embedded.redis_url, env)
    try:
        wait_generation(farm, campaign, generation, timeout=timeout)
    finally:  # killed even when the generation never came (no daemon outlives the test)
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait(10)


def checkpoint_state(farm: Farm, campaign: str) -> EvolutionState:
    """The engine state of ``campaign``'s checkpoint (which must exist)."""
    checkpoint = farm.store.load_checkpoint(campaign)
    assert checkpoint is not None
    return EvolutionState.model_validate(checkpoint.state)


def run_killed_after(
    farm: Farm, campaign: str, delay_s: float, revoke: control.Revoke | None = None
) -> tuple[Outcome, float]:
    """Run ``campaign``'s scheduler here (:data:`FAST`) while a timer kills the campaign
    after ``delay_s`` (:func:`control.kill`, revoking with ``revoke``, by default the
    farm's dispatcher); returns the outcome and the seconds from start to the timer's end."""

    def kill() -> None:
        control.kill(farm.store, campaign, revoke or farm.dispatcher().revoke)

    timer = threading.Timer(delay_s, kill)
    started = time.monotonic()
    timer.start()
    outcome = run_scheduler(farm, campaign, options=FAST)
    timer.join()
    return outcome, time.monotonic() - started
