"""Steady state with ``evolution.nursery`` and ``evolution.noise`` in the in-process loop."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from statistics import fmean

import pytest

from evofarm.campaign.local.evaluator import make_evaluator
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.evolution.genome import Genome
from evofarm.evolution.noise import NoiseConfig
from evofarm.testing.noisy_campaign import write_noisy_campaign
from tests.campaign.local.helpers import counting_staged
from tests.campaign.local.test_noise import Noisy
from tests.campaign.local.test_noise import _spec as noise_demo
from tests.campaign.local.test_nursery_loop import STAGES
from tests.campaign.local.test_nursery_loop import _spec as nursery_demo


def steady(spec: CampaignSpec) -> CampaignSpec:
    return spec.model_copy(
        update={"evolution": spec.evolution.model_copy(update={"mode": "steady"})}
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_a_steady_nursery_spends_fewer_case_runs_and_finds_a_comparable_best(seed: int) -> None:
    plain, nursery = steady(nursery_demo(None)), steady(nursery_demo(STAGES))
    full = run_in_process(plain, seed=seed, evaluator=make_evaluator(plain, plain.load_suite()))
    runs: Counter[tuple[str, str]] = Counter()
    staged = counting_staged(nursery, nursery.load_suite().training(), runs)
    result = run_in_process(
        nursery, seed=seed, evaluator=lambda g: staged(g, 1.0, None), staged_evaluator=staged
    )
    assert result.summary.reason == full.summary.reason == "ran 6 generations"
    assert runs and max(runs.values()) == 1  # partial evaluations reused, never repeated
    assert result.case_runs == sum(runs.values()) < 0.75 * full.case_runs
    assert full.summary.best.fitness is not None and result.summary.best.fitness is not None
    assert result.summary.best.fitness >= full.summary.best.fitness - 0.05
    state = result.state
    assert state is not None and state.steady is not None
    counters = state.counters
    assert counters.culled > 0 and state.steady.told == counters.tasks == 6 * 8
    assert counters.offspring + counters.duplicates + counters.discarded + counters.culled == (
        counters.tasks
    )
    # Only full evaluations compete: every member was fully evaluated.
    full_ids = {g for g, e in result.evaluations.items() if e.fidelity == 1.0}
    assert {m.id for m in state.population} <= full_ids == set(result.evaluations)
    assert [len(w) for w in state.steady.stages] == [8, 8]  # one window per stage, lambda long


def _noisy(tmp_path: Path, noise: dict[str, float] | None) -> CampaignSpec:
    return steady(load_campaign(write_noisy_campaign(tmp_path, noise, generations=5)))


def test_a_noisy_steady_campaign_does_not_crown_a_lucky_genome(tmp_path: Path) -> None:
    plain_spec = _noisy(tmp_path / "plain", None)
    evaluate = make_evaluator(plain_spec, plain_spec.load_suite().training())
    seed = Genome.from_pipeline(plain_spec.load_seeds()[0])
    true = fmean(evaluate(seed, k).score for k in range(100))
    plain = run_in_process(plain_spec, seed=1).summary
    # Every genome is truly equal: plain acceptance crowns a lucky draw.
    assert plain.best.fitness is not None and plain.best.fitness - true > 0.05
    aware = run_in_process(_noisy(tmp_path / "aware", {"samples": 5, "confidence": 0.99}), seed=1)
    assert aware.summary.best.genome == seed.id
    assert aware.summary.best.fitness is not None and abs(aware.summary.best.fitness - true) < 0.04
    state = aware.state
    assert state is not None and state.noise is not None and state.noise.champion == seed.id
    resamples = sum(n - 1 for n in state.noise.samples.values())
    assert resamples > 0 and max(state.noise.samples.values()) == 5
    assert aware.summary.evaluations == len(aware.evaluations) + resamples
    # Each generation's best is the crowned champion's mean, never a lucky draw.
    assert all(abs(best - true) < 0.04 for best in state.best_history)


def test_a_truly_better_genome_is_crowned_in_steady_state() -> None:
    spec = steady(noise_demo(NoiseConfig(samples=4, test="paired_t")))
    seed_id = Genome.from_pipeline(spec.load_seeds()[0]).id
    noisy = Noisy(seed_id, 3, 5)
    result = run_in_process(spec, seed=3, evaluator=noisy)
    assert result.best is not None and noisy.quality(result.best) == 0.9
