"""Three worker SIGKILLs in one campaign, each while evaluations are in flight.

Each time the whole worker (main process and pool) dies at once and a fresh
one takes its place; the killed worker's tasks come back and are evaluated
once. The campaign ends with the in-process best and exact counts.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm.embedded import group_members
from evofarm.farm.session import Farm

from .conftest import assert_exact_counts, in_process_best, wait_until
from .test_redis_outage import _run

pytestmark = pytest.mark.integration

Demo = Callable[..., CampaignSpec]


def test_three_worker_sigkills_lose_and_double_count_nothing(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=5)
    best, status, reason = in_process_best(spec, seed=61)
    campaign = control.submit(farm.store, spec, seed=61)
    assert farm.embedded is not None
    processes = farm.embedded
    killed: list[int] = []

    def fault() -> None:
        for generation in (1, 2, 3):
            wait_until(
                lambda g=generation: (
                    (c := farm.store.load_checkpoint(campaign)) is not None and c.generation >= g
                ),
                what=f"generation {generation}",
            )
            wait_until(lambda: len(farm.store.inflight(campaign)) >= 1, what="work in flight")
            victim = next(p for p in processes.processes if p.poll() is None)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(10)
            killed.append(victim.pid)
            processes.add_worker()  # on this (main) thread: it outlives the fault

    outcome, _ = _run(farm, campaign, fault)
    assert len(killed) == 3 and all(group_members(pid) == [] for pid in killed)
    assert (outcome.status, outcome.reason) == (status, reason)  # type: ignore[attr-defined]
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)
