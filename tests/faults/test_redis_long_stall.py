"""A 20 s Redis stall (SIGSTOP, then SIGCONT) in the middle of a campaign.

Everything that talks to Redis freezes (scheduler, workers, their results);
the stall is longer than the socket timeouts, so connections fail and are
made again. This module's farm allows tasks longer than the stall (a task held
past its soft time limit fails for good, which is not what this tests).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.session import Farm
from tests.integration.conftest import FARM_ENV, started_farm

from .conftest import assert_exact_counts, in_process_best, wait_until
from .test_redis_outage import _run

pytestmark = pytest.mark.integration

Demo = Callable[..., CampaignSpec]
STALL_S = 20.0


@pytest.fixture(scope="module")
def farm_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedFarm]:
    """As the package's farm, with time limits and visibility above the stall."""
    env = {
        **FARM_ENV,
        "EVOFARM_TASK_SOFT_TIME_LIMIT_S": "40",
        "EVOFARM_TASK_TIME_LIMIT_S": "45",
        "EVOFARM_VISIBILITY_TIMEOUT_S": "50",
    }
    with started_farm(tmp_path_factory.mktemp("farm"), env) as farm:
        yield farm


def test_a_20s_redis_stall_is_ridden_out(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=4)
    best, status, reason = in_process_best(spec, seed=71)
    campaign = control.submit(farm.store, spec, seed=71)
    assert farm.embedded is not None
    pid = farm.embedded.redis.pid
    assert pid is not None

    def fault() -> None:
        wait_until(
            lambda: (c := farm.store.load_checkpoint(campaign)) is not None and c.generation >= 1,
            what="generation 1",
        )
        wait_until(lambda: len(farm.store.inflight(campaign)) >= 1, what="work in flight")
        os.kill(pid, signal.SIGSTOP)
        try:
            threading.Event().wait(STALL_S)
        finally:
            os.kill(pid, signal.SIGCONT)

    outcome, _ = _run(farm, campaign, fault)
    assert (outcome.status, outcome.reason) == (status, reason)  # type: ignore[attr-defined]
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)
