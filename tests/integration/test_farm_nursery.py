"""The nursery on a real farm: same best and culled as in-process, no case run twice, resume.

Generational and steady state (``mode: steady``: each birth promoted or culled
on its own, so not reproducible run to run: the counts and case runs are checked).

The workers log every case they run (``EVOFARM_SYNTHETIC_RUN_LOG``), so case
runs are counted where they happen, independently of the store's counter.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import fidelity_key
from evofarm.campaign.local.loop import CampaignResult, run_in_process
from evofarm.campaign.reports.readback import summary
from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.nursery import NurseryConfig
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from evofarm.testing import synthetic_eval
from tests.integration.conftest import FARM_ENV, small_demo, started_farm, steady
from tests.integration.schedulers import (
    FAST,
    checkpoint_state,
    scheduler_daemon,
    sigkill_scheduler_at,
)

pytestmark = pytest.mark.integration

STAGES = {"stages": [{"fraction": 0.2, "promote": 0.5}, {"fraction": 0.5, "promote": 0.5}]}


@pytest.fixture(scope="module")
def farm_processes(
    tmp_path_factory: pytest.TempPathFactory, run_log: Path
) -> Iterator[EmbeddedFarm]:
    """The conftest's farm, its workers logging every case run."""
    env = {**FARM_ENV, synthetic_eval.RUN_LOG_ENV: str(run_log)}
    with started_farm(tmp_path_factory.mktemp("farm"), env) as farm:
        yield farm


def nursery(generations: int) -> CampaignSpec:
    spec = small_demo(generations)
    evolution = spec.evolution.model_copy(
        update={"offspring": 8, "nursery": NurseryConfig.model_validate(STAGES)}
    )
    return spec.model_copy(update={"evolution": evolution})


def in_process(spec: CampaignSpec, seed: int) -> CampaignResult:
    training = spec.load_suite().training()
    return run_in_process(
        spec,
        seed=seed,
        evaluator=synthetic_eval.loop_evaluator(spec, training),
        staged_evaluator=synthetic_eval.loop_staged_evaluator(spec, training),
    )


def culled(farm: Farm, campaign: str) -> int:
    return checkpoint_state(farm, campaign).counters.culled


def test_the_farm_nursery_gives_the_in_process_best_and_runs_each_case_once(
    farm: Farm, run_log: Path
) -> None:
    spec = nursery(generations=4)
    local = in_process(spec, seed=11)
    campaign = control.submit(farm.store, spec, seed=11)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == (local.summary.status, local.summary.reason)
    ended = summary(farm.store, campaign)
    assert ended.best == local.summary.best
    assert local.state is not None and culled(farm, campaign) == local.state.counters.culled > 0
    runs = synthetic_eval.logged_case_runs(run_log, campaign)
    assert runs and max(runs.values()) == 1  # reused, never repeated
    assert ended.case_runs == sum(runs.values()) == local.case_runs
    assert ended.evaluations == local.summary.evaluations
    assert len(farm.store.read_history(campaign)) == ended.evaluations  # culled: no row
    assert farm.store.inflight(campaign) == set()


def _wait(condition: Callable[[], bool], timeout: float = 90, *, required: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    if required:
        raise AssertionError("condition not met in time")


@pytest.mark.slow
def test_a_scheduler_killed_mid_nursery_resumes_without_running_a_case_twice(
    farm: Farm, farm_env: dict[str, str], run_log: Path
) -> None:
    spec = nursery(generations=6)
    local = in_process(spec, seed=12)
    campaign = control.submit(farm.store, spec, seed=12)
    assert farm.embedded is not None
    stage2 = fidelity_key(0.5 * spec.fidelity)

    def partials() -> int:
        return sum(1 for k in farm.store.evaluation_keys(campaign) if k.fidelity == stage2)

    scheduler = scheduler_daemon(campaign, farm.embedded.redis_url, farm_env)
    # Generation 1 is checkpointed; then wait for generation 2's first stage-2 result.
    _wait(lambda: (c := farm.store.load_checkpoint(campaign)) is not None and c.generation >= 1)
    before = partials()
    _wait(lambda: partials() > before)
    scheduler.send_signal(signal.SIGKILL)
    scheduler.wait(10)
    checkpoint = farm.store.load_checkpoint(campaign)
    assert checkpoint is not None and checkpoint.generation < spec.evolution.generations
    # Let the dead scheduler's tasks finish: a re-sent task racing its first
    # delivery would run its cases twice (and be recorded and counted once).
    # Workers clear the ids of the tasks they finish; an id registered but never
    # sent (killed mid-dispatch) never clears, hence the bounded, optional wait.
    _wait(lambda: not farm.store.inflight(campaign), timeout=15, required=False)
    outcome = run_scheduler(farm, campaign, options=FAST)  # waits out the dead lease
    assert (outcome.status, outcome.reason) == (local.summary.status, local.summary.reason)
    ended = summary(farm.store, campaign)
    assert ended.best == local.summary.best
    assert local.state is not None and culled(farm, campaign) == local.state.counters.culled
    runs = synthetic_eval.logged_case_runs(run_log, campaign)
    assert max(runs.values()) == 1
    assert ended.case_runs == sum(runs.values()) == local.case_runs
    assert ended.evaluations == local.summary.evaluations


def _assert_steady_nursery(farm: Farm, campaign: str, run_log: Path, births: int) -> None:
    """Every birth told, culled ones too; each case run once and counted; full ones have rows."""
    state = checkpoint_state(farm, campaign)
    assert state.steady is not None and state.steady.open == []
    counters = state.counters
    told = counters.offspring + counters.duplicates + counters.discarded + counters.culled
    assert told == counters.tasks == state.steady.told == births and counters.culled > 0
    runs = synthetic_eval.logged_case_runs(run_log, campaign)
    assert runs and max(runs.values()) == 1  # partial evaluations reused, never repeated
    ended = summary(farm.store, campaign)
    assert ended.case_runs == sum(runs.values())
    full = [k for k in farm.store.evaluation_keys(campaign) if k.fidelity == fidelity_key(1.0)]
    assert ended.evaluations == farm.store.counters(campaign)["evaluations"] == len(full)
    assert len(farm.store.read_history(campaign)) == len(full)  # culled: no row
    assert farm.store.inflight(campaign) == set()


def test_a_steady_nursery_on_the_farm_culls_per_birth_and_spends_fewer_case_runs(
    farm: Farm, run_log: Path
) -> None:
    spec = steady(nursery(generations=4))
    plain_spec = spec.model_copy(
        update={"evolution": spec.evolution.model_copy(update={"nursery": None})}
    )
    plain = in_process(plain_spec, seed=13)
    campaign = control.submit(farm.store, spec, seed=13)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == ("completed", "ran 4 generations")
    _assert_steady_nursery(farm, campaign, run_log, births=4 * 8)
    ended = summary(farm.store, campaign)
    assert ended.case_runs < 0.75 * plain.case_runs
    assert ended.best.fitness is not None and plain.summary.best.fitness is not None
    assert ended.best.fitness >= plain.summary.best.fitness - 0.1


@pytest.mark.slow
def test_a_steady_nursery_scheduler_sigkilled_resumes_without_running_a_case_twice(
    farm: Farm, farm_env: dict[str, str], run_log: Path
) -> None:
    spec = steady(nursery(generations=8))
    campaign = control.submit(farm.store, spec, seed=14)
    sigkill_scheduler_at(farm, campaign, farm_env, generation=2)
    state = checkpoint_state(farm, campaign)
    assert state.steady is not None and state.steady.told < 8 * 8
    # As above: let the dead scheduler's tasks finish before their births are re-sent.
    _wait(lambda: not farm.store.inflight(campaign), timeout=15, required=False)
    outcome = run_scheduler(farm, campaign, options=FAST)  # waits out the dead lease
    assert (outcome.status, outcome.reason) == ("completed", "ran 8 generations")
    _assert_steady_nursery(farm, campaign, run_log, births=8 * 8)
