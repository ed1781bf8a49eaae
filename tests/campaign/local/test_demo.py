"""The demo campaign reaches fitness >= 0.95 without any LLM, for five seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import load_campaign
from evofarm.evolution.engine import initial_genomes
from evofarm.evolution.simplify import simplify

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"
CASES = 24


def test_demo_seed_pipeline_scores_low() -> None:
    spec = load_campaign(DEMO)
    result = run_in_process(
        spec.model_copy(
            update={"evolution": spec.evolution.model_copy(update={"generations": 0})}
        ).with_base_dir(spec.base_dir),
        seed=1,
    )
    assert result.summary.evaluations == 1
    assert result.summary.best.fitness is not None and result.summary.best.fitness < 0.5
    assert len(initial_genomes(spec.load_seeds())) == 1
    assert len(spec.load_suite().cases) == CASES


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_demo_reaches_the_bar(seed: int) -> None:
    spec = load_campaign(DEMO)
    result = run_in_process(spec, seed=seed)
    summary = result.summary
    assert summary.status == "completed", summary.reason
    assert summary.best.fitness is not None and summary.best.fitness >= 0.95
    # A few thousand case runs (the campaign's hard cap is 400 x 24 = 9600).
    assert summary.evaluations * CASES <= 5000
    assert summary.tokens == 0 and summary.cost_usd == 0.0  # no LLM was involved
    assert summary.approval == "approved"
    best = result.best
    assert best is not None
    assert {s["type"] for s in best.pipeline["steps"]} <= {"transform", "test_echo"}
    # best.yaml is the simplified winner: no dead step, no no-op or repeated op left
    # (seed 1's archive best carried a dead ``clean_date_2`` before simplification).
    assert summary.best.genome == best.id
    assert not simplify(best.pipeline).changed
    assert "clean_date_2" not in {s["name"] for s in best.pipeline["steps"]}
