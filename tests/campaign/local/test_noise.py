"""Noise-aware acceptance: a noisy campaign must not crown a lucky genome."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import parse_sample, sample_fidelity
from evofarm.campaign.local.evaluator import make_evaluator
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.errors import StoreError
from evofarm.evolution.genome import Genome
from evofarm.evolution.noise import NoiseConfig, beats, case_means, t_critical
from evofarm.fitness.records import CaseResult, Evaluation, aggregate
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import Budgets
from evofarm.store.memory import MemoryStore
from evofarm.testing.noisy_campaign import write_noisy_campaign

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"
CASES = 12


def _evaluation(rates: list[float], rng: random.Random, gid: str = "g") -> Evaluation:
    """Each case's 4 checks pass independently with the case's true rate."""
    cases = []
    for i, rate in enumerate(rates):
        passed = sum(rng.random() < rate for _ in range(4))
        cases.append(CaseResult(case_id=f"c{i:02d}", passed_checks=passed, total_checks=4,
                                required_passed=int(passed == 4), required_total=1,
                                efficiency=1.0))  # fmt: skip
    return aggregate(cases, suite_id="s", budgets=Budgets(), config=FitnessConfig(),
                     fidelity=1.0, genome_id=gid)  # fmt: skip


class Noisy:
    """A stochastic evaluator: true quality per genome, a fresh draw per call."""

    def __init__(self, seed_id: str, better_share: int, seed: int) -> None:
        self.seed_id, self.share, self.rng = seed_id, better_share, random.Random(seed)

    def quality(self, genome: Genome) -> float:
        digest = int(hashlib.sha256(genome.id.encode()).hexdigest()[:8], 16)
        if genome.id == self.seed_id or not self.share or digest % self.share:
            return 0.5
        return 0.9

    def __call__(self, genome: Genome) -> Evaluation:
        return _evaluation([self.quality(genome)] * CASES, self.rng, genome.id)


def _spec(noise: NoiseConfig | None) -> CampaignSpec:
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={"generations": 8, "target_fitness": None, "noise": noise}
    )
    budgets = spec.budgets.model_copy(update={"max_evaluations": None, "max_wall_s": None})
    return spec.model_copy(update={"evolution": evolution, "budgets": budgets})


def _seed_id(spec: CampaignSpec) -> str:
    return Genome.from_pipeline(spec.load_seeds()[0]).id


def test_the_tests_tell_a_real_difference_from_noise() -> None:
    rng = random.Random(0)
    same = [_evaluation([0.5] * CASES, rng) for _ in range(4)]
    other = [_evaluation([0.5] * CASES, rng) for _ in range(4)]
    better = [_evaluation([0.9] * CASES, rng) for _ in range(3)]
    for test in ("paired_t", "lcb"):
        config = NoiseConfig(test=test)
        assert beats(better, same, config)
        assert not beats(same, better, config)
    assert not beats(other, same, NoiseConfig(confidence=0.99))
    assert not beats(better[:1], same, NoiseConfig(test="lcb"))  # one sample: no bound
    assert t_critical(0.95, 1000) == pytest.approx(1.645, abs=0.01)
    assert t_critical(0.95, 10) == pytest.approx(1.812, abs=0.01)
    assert set(case_means(same)) == {f"c{i:02d}" for i in range(CASES)}


@pytest.mark.parametrize("seed", [1, 2])
def test_a_noisy_campaign_does_not_crown_a_lucky_genome(seed: int) -> None:
    rng = random.Random(99)
    true = sum(_evaluation([0.5] * CASES, rng).score for _ in range(400)) / 400
    plain_spec = _spec(None)
    seed_id = _seed_id(plain_spec)
    plain = run_in_process(plain_spec, seed=seed, evaluator=Noisy(seed_id, 0, seed))
    # Every genome is truly equal: the plain campaign crowns a lucky draw.
    assert plain.summary.best.fitness is not None
    assert plain.summary.best.fitness - true > 0.05
    aware_spec = _spec(NoiseConfig(samples=5, elites=2, confidence=0.99))
    aware = run_in_process(aware_spec, seed=seed, evaluator=Noisy(seed_id, 0, seed))
    # No challenger beat the first champion (the seed), whose mean is honest.
    assert aware.summary.best.genome == seed_id
    assert aware.summary.best.fitness is not None
    assert abs(aware.summary.best.fitness - true) < 0.04
    assert aware.state is not None and aware.state.archive[0].id == seed_id
    assert aware.case_runs > len(aware.evaluations) * CASES  # elites were re-evaluated


def test_a_truly_better_genome_is_crowned() -> None:
    spec = _spec(NoiseConfig(samples=4, test="paired_t"))
    seed_id = _seed_id(spec)
    noisy = Noisy(seed_id, 3, 5)
    result = run_in_process(spec, seed=3, evaluator=noisy)
    assert result.best is not None and noisy.quality(result.best) == 0.9


def _noisy_spec(tmp_path: Path, noise: dict[str, Any] | None) -> CampaignSpec:
    return load_campaign(write_noisy_campaign(tmp_path, noise, generations=4))


def test_the_real_evaluator_draws_a_new_reproducible_sample_per_index(tmp_path: Path) -> None:
    spec = _noisy_spec(tmp_path, None)
    evaluate = make_evaluator(spec, spec.load_suite().training())
    seed = Genome.from_pipeline(spec.load_seeds()[0])

    def verdicts(sample: int) -> list[list[bool]]:
        return [[c.passed for c in case.checks] for case in evaluate(seed, sample).cases]

    assert verdicts(0) == verdicts(0) and evaluate(seed).score == evaluate(seed, 0).score
    assert verdicts(1) == verdicts(1)
    assert verdicts(0) != verdicts(1)


def test_a_noisy_campaign_counts_its_resamples_and_checkpoints_its_champion(
    tmp_path: Path,
) -> None:
    spec = _noisy_spec(tmp_path / "a", {"samples": 4, "elites": 2, "confidence": 0.99})
    result = run_in_process(spec, seed=1)
    assert result.state is not None and result.state.noise is not None
    memo = result.state.noise
    assert memo.champion == result.state.archive[0].id == result.summary.best.genome
    resamples = sum(n - 1 for n in memo.samples.values())
    assert resamples > 0 and max(memo.samples.values()) == 4
    # One evaluation per genome plus each resample (as the farm's counter counts them).
    assert result.summary.evaluations == len(result.evaluations) + resamples
    cases = len(spec.load_suite().training().cases)
    assert result.case_runs == result.summary.evaluations * cases


def test_samples_are_keyed_apart_from_the_first_evaluation() -> None:
    assert sample_fidelity("1.0", 0) == "1.0"
    assert parse_sample(sample_fidelity("1.0", 3)) == ("1.0", 3)
    assert parse_sample("0.5") == ("0.5", 0)
    with pytest.raises(StoreError, match="malformed sample"):
        parse_sample("1.0+sx")


def test_the_farm_accepts_a_noise_campaign_in_either_mode(tmp_path: Path) -> None:
    spec = _noisy_spec(tmp_path, {"samples": 3})
    store = MemoryStore()
    campaign = control.submit(store, spec, seed=1)
    assert store.get_status(campaign) == "submitted"
    steady = spec.evolution.model_validate(
        {**spec.evolution.model_dump(), "mode": "steady", "selection": "mu_plus_lambda"}
    )
    assert steady.noise is not None and steady.mode == "steady"
