"""``evolution.noise`` on a real farm (Redis + 2 worker processes running the real evaluator).

The suite's every check is noise (:mod:`evofarm.testing.noisy_check`), fixed per
(genome, sample), so the in-process loop and the farm see the same draws and
must crown the same genome: the seed, whose mean is honest, not a lucky child.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import fmean

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import parse_sample
from evofarm.campaign.local.evaluator import make_evaluator
from evofarm.campaign.local.loop import CampaignResult, run_in_process
from evofarm.campaign.reports import readback
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.genome import Genome
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from evofarm.testing.noisy_campaign import write_noisy_campaign
from tests.integration.conftest import FARM_ENV, started_farm
from tests.integration.conftest import steady as _steady
from tests.integration.schedulers import FAST, sigkill_scheduler_at

pytestmark = pytest.mark.integration

NOISE = {"samples": 5, "elites": 2, "confidence": 0.99}
# The package's farm settings, with the real evaluator instead of the synthetic one.
ENV = {
    **{k: v for k, v in FARM_ENV.items() if not k.startswith("EVOFARM_SYNTHETIC_")},
    "EVOFARM_EVALUATOR": "in_process",
}


@pytest.fixture(scope="module")
def farm_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedFarm]:
    """The conftest's farm, its workers running the real evaluator."""
    with started_farm(tmp_path_factory.mktemp("farm"), ENV) as embedded:
        yield embedded


def _spec(directory: Path, noise: dict[str, float] | None, generations: int = 5) -> CampaignSpec:
    return load_campaign(write_noisy_campaign(directory, noise, generations=generations))


def _seed_id(spec: CampaignSpec) -> str:
    return Genome.from_pipeline(spec.load_seeds()[0]).id


def _true_mean(spec: CampaignSpec) -> float:
    """Every genome's true score: the mean of many samples of the seed."""
    evaluate = make_evaluator(spec, spec.load_suite().training())
    seed = Genome.from_pipeline(spec.load_seeds()[0])
    return fmean(evaluate(seed, k).score for k in range(100))


def _assert_like_in_process(farm: Farm, campaign: str, loop: CampaignResult) -> None:
    """Same crowned best, same counts; each sample stored and counted exactly once."""
    summary = readback.summary(farm.store, campaign)
    assert summary.best == loop.summary.best
    assert summary.evaluations == loop.summary.evaluations
    counters = farm.store.counters(campaign)
    keys = farm.store.evaluation_keys(campaign)
    assert counters["evaluations"] == len(keys) == summary.evaluations
    samples = [k for k in keys if parse_sample(k.fidelity)[1] > 0]
    # Resamples get no history row, in-process or on the farm.
    assert len(farm.store.read_history(campaign)) == len(keys) - len(samples)
    assert len(samples) == loop.summary.evaluations - len(loop.evaluations) > 0
    checkpoint = farm.store.load_checkpoint(campaign)
    assert checkpoint is not None and loop.state is not None
    state = EvolutionState.model_validate(checkpoint.state)
    assert state.noise == loop.state.noise and state.noise is not None
    assert farm.store.inflight(campaign) == set()


def test_the_farm_crowns_what_in_process_crowns_and_not_a_lucky_genome(
    farm: Farm, tmp_path: Path
) -> None:
    plain_spec = _spec(tmp_path / "plain", None)
    true = _true_mean(plain_spec)
    plain = run_in_process(plain_spec, seed=1).summary
    # Every genome is truly equal: plain acceptance crowns a lucky draw.
    assert plain.best.fitness is not None and plain.best.fitness - true > 0.05
    spec = _spec(tmp_path / "aware", NOISE)
    loop = run_in_process(spec, seed=1)
    assert loop.summary.best.genome == _seed_id(spec)
    campaign = control.submit(farm.store, spec, seed=1)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == (loop.summary.status, loop.summary.reason)
    summary = readback.summary(farm.store, campaign)
    # No challenger beat the first champion (the seed), whose mean is honest.
    assert summary.best.genome == _seed_id(spec)
    assert summary.best.fitness is not None and abs(summary.best.fitness - true) < 0.04
    _assert_like_in_process(farm, campaign, loop)


def _twins(farm: Farm, tmp_path: Path, seed: int) -> tuple[CampaignResult, str]:
    """The noise-aware 6-generation campaign run in-process, and submitted (not run) to ``farm``."""
    spec = _spec(tmp_path / "aware", NOISE, generations=6)
    loop = run_in_process(spec, seed=seed)
    return loop, control.submit(farm.store, spec, seed=seed)


@pytest.mark.slow
def test_a_scheduler_sigkilled_mid_campaign_resumes_to_the_same_crown(
    farm: Farm, tmp_path: Path
) -> None:
    loop, campaign = _twins(farm, tmp_path, seed=2)
    sigkill_scheduler_at(farm, campaign, ENV, generation=2, timeout=120)
    assert readback.snapshot(farm.store, campaign).status == "running"
    outcome = run_scheduler(farm, campaign, options=FAST)  # waits out the dead lease
    assert (outcome.status, outcome.reason) == (loop.summary.status, loop.summary.reason)
    _assert_like_in_process(farm, campaign, loop)


@pytest.mark.slow
def test_a_worker_sigkilled_while_resampling_loses_and_double_counts_no_sample(
    farm: Farm, tmp_path: Path
) -> None:
    loop, campaign = _twins(farm, tmp_path, seed=3)
    assert farm.embedded is not None
    victim = farm.embedded.processes[0]
    killed: list[int] = []

    def kill_worker() -> None:
        # Once resamples are being drawn and work is in flight, kill a whole worker.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            resampling = any(
                parse_sample(k.fidelity)[1] for k in farm.store.evaluation_keys(campaign)
            )
            if resampling and len(farm.store.inflight(campaign)) >= 2:
                os.killpg(victim.pid, signal.SIGKILL)
                killed.append(len(farm.store.inflight(campaign)))
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_worker)
    killer.start()
    outcome = run_scheduler(farm, campaign, options=FAST)
    killer.join()
    victim.wait(10)
    farm.embedded.add_worker()  # leave two workers for later tests
    assert killed, "no moment with resamples and work in flight"
    assert (outcome.status, outcome.reason) == (loop.summary.status, loop.summary.reason)
    _assert_like_in_process(farm, campaign, loop)


def _assert_steady_crown(farm: Farm, campaign: str, spec: CampaignSpec, births: int) -> None:
    """The honest seed crowned; each sample stored and counted once; resamples rowless.

    After a resume too: the killed scheduler's job is in its checkpoint, and the
    resumed one adopts any sample stored beyond it."""
    true = _true_mean(spec)
    summary = readback.summary(farm.store, campaign)
    assert summary.best.genome == _seed_id(spec)
    assert summary.best.fitness is not None and abs(summary.best.fitness - true) < 0.04
    counters = farm.store.counters(campaign)
    keys = farm.store.evaluation_keys(campaign)
    assert counters["evaluations"] == len(keys) == summary.evaluations
    samples = [k for k in keys if parse_sample(k.fidelity)[1] > 0]
    assert samples and len(farm.store.read_history(campaign)) == len(keys) - len(samples)
    checkpoint = farm.store.load_checkpoint(campaign)
    assert checkpoint is not None
    state = EvolutionState.model_validate(checkpoint.state)
    assert state.steady is not None and state.steady.told == state.counters.tasks == births
    assert state.noise is not None and state.noise.champion == _seed_id(spec)
    # The checkpoint counts every sample stored.
    assert state.noise.job is None
    assert sum(n - 1 for n in state.noise.samples.values()) == len(samples)
    assert farm.store.inflight(campaign) == set()


def test_a_steady_noisy_campaign_on_the_farm_crowns_the_honest_seed(
    farm: Farm, tmp_path: Path
) -> None:
    spec = _steady(_spec(tmp_path / "steady", NOISE))
    campaign = control.submit(farm.store, spec, seed=4)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == ("completed", "ran 5 generations")
    _assert_steady_crown(farm, campaign, spec, births=5 * spec.evolution.lam)


@pytest.mark.slow
def test_a_steady_noisy_scheduler_sigkilled_resumes_to_an_honest_crown(
    farm: Farm, tmp_path: Path
) -> None:
    spec = _steady(_spec(tmp_path / "steady-kill", NOISE, generations=6))
    campaign = control.submit(farm.store, spec, seed=5)
    sigkill_scheduler_at(farm, campaign, ENV, generation=2, timeout=120)
    assert readback.snapshot(farm.store, campaign).status == "running"
    outcome = run_scheduler(farm, campaign, options=FAST)  # waits out the dead lease
    assert (outcome.status, outcome.reason) == ("completed", "ran 6 generations")
    _assert_steady_crown(farm, campaign, spec, births=6 * spec.evolution.lam)
