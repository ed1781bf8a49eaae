"""Faults injected into a real farm: private Redis (AOF on), real worker processes.

Each test module gets its own farm, because faults here restart its Redis or
kill its workers. Workers run the synthetic evaluator (deterministic scores), so
every test can compare its final best with the in-process run's and count
evaluations exactly.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.session import Farm
from evofarm.testing.synthetic_eval import loop_evaluator

# The same module-scoped farm fixtures as the integration tests (each module
# still gets its own farm, since faults restart its Redis or kill its workers).
from tests.integration import conftest as integration

pytestmark = pytest.mark.integration


farm_processes = integration.farm_processes
farm = integration.farm
demo = integration.demo


def in_process_best(spec: CampaignSpec, seed: int) -> tuple[str | None, str, str]:
    """The in-process run's best genome, status and reason (the reference)."""
    result = run_in_process(spec, seed=seed, evaluator=loop_evaluator(spec, spec.load_suite()))
    return result.summary.best.genome, result.summary.status, result.summary.reason


def assert_exact_counts(farm: Farm, campaign: str) -> None:
    """Every evaluation counted once, stored once, in the history once; nothing in flight."""
    counters = farm.store.counters(campaign)
    keys = farm.store.evaluation_keys(campaign)
    history = farm.store.read_history(campaign)
    assert counters.get("evaluations", 0) == len(keys)
    assert len(history) == len(keys)
    assert len({row["genome"] for row in history}) == len(history)
    assert farm.store.inflight(campaign) == set()


def restart_redis(processes: EmbeddedFarm, sig: signal.Signals, down_s: float) -> None:
    """Stop the farm's Redis with ``sig``, keep it down ``down_s``, start it again (AOF)."""
    server = processes.redis
    assert server.pid is not None
    os.kill(server.pid, sig)
    assert server._proc is not None
    server._proc.wait(10)
    time.sleep(down_s)
    server.start()


def wait_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``check`` until true (tests only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout:.0f}s")
