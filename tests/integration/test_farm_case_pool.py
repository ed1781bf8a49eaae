"""Workers whose evaluations share one case pool per process (``EVOFARM_CASE_POOL=worker``):
sized to the tasks a process runs at once, and the campaign is the in-process one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports.readback import summary
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm import names
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from evofarm.testing import synthetic_eval
from tests.integration.conftest import FARM_ENV, started_farm, steady
from tests.integration.schedulers import FAST

pytestmark = pytest.mark.integration

Demo = Callable[..., CampaignSpec]
THREADS, CASES_AT_ONCE = 3, 2


@pytest.fixture(scope="module")
def farm_processes(
    tmp_path_factory: pytest.TempPathFactory, run_log: Path
) -> Iterator[EmbeddedFarm]:
    """Two threads-pool workers (3 task threads each), 2 cases per task, one shared pool."""
    env = {
        **FARM_ENV,
        "EVOFARM_CASE_CONCURRENCY": str(CASES_AT_ONCE),
        "EVOFARM_CASE_POOL": "worker",
        synthetic_eval.RUN_LOG_ENV: str(run_log),
    }
    directory = tmp_path_factory.mktemp("farm")
    with started_farm(directory, env, concurrency=THREADS, pool="threads") as farm:
        yield farm


def test_each_worker_process_has_one_pool_for_its_task_threads(farm: Farm) -> None:
    results = [farm.app.send_task(names.TASK_PING, args=[{"i": i}]) for i in range(8)]
    replies = [r.get(timeout=30) for r in results]
    del results  # their finalizers talk to the backend
    assert {r["case_threads"] for r in replies} == {THREADS * CASES_AT_ONCE}


def test_a_campaign_on_shared_case_threads_is_the_in_process_one(
    farm: Farm, demo: Demo, run_log: Path
) -> None:
    spec = demo(generations=3)
    loop = run_in_process(
        spec, seed=4, evaluator=synthetic_eval.loop_evaluator(spec, spec.load_suite())
    ).summary
    campaign = control.submit(farm.store, spec, seed=4)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == (loop.status, loop.reason)
    farm_summary = summary(farm.store, campaign)
    assert farm_summary.best == loop.best
    assert (farm_summary.evaluations, farm_summary.case_runs) == (loop.evaluations, loop.case_runs)
    # Every case of every evaluation ran once, on the worker, split evaluations included.
    runs = synthetic_eval.logged_case_runs(run_log, campaign)
    assert set(runs.values()) == {1} and len(runs) == loop.case_runs


def test_a_steady_campaign_counts_every_evaluation_once(
    farm: Farm, demo: Demo, run_log: Path
) -> None:
    campaign = control.submit(farm.store, steady(demo(generations=3)), seed=4)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert outcome.status == "completed"
    counters = farm.store.counters(campaign)
    assert counters["evaluations"] == len(farm.store.evaluation_keys(campaign))
    assert len(farm.store.read_history(campaign)) == counters["evaluations"]
    runs = synthetic_eval.logged_case_runs(run_log, campaign)
    assert set(runs.values()) == {1} and len(runs) == summary(farm.store, campaign).case_runs
