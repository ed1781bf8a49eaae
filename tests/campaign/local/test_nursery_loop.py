"""The nursery in the in-process loop: staged evaluation, every case run at most once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evofarm.campaign.local.evaluator import make_evaluator
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.errors import CampaignSpecError
from evofarm.evolution.errors import EngineInputError
from evofarm.evolution.nursery import NurseryConfig
from tests.campaign.local.helpers import counting_staged

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"
STAGES = {"stages": [{"fraction": 0.2, "promote": 0.5}, {"fraction": 0.5, "promote": 0.5}]}


def _spec(nursery: dict[str, Any] | None, generations: int = 6) -> CampaignSpec:
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={
            "generations": generations,
            "target_fitness": None,
            "nursery": NurseryConfig.model_validate(nursery) if nursery else None,
        }
    )
    budgets = spec.budgets.model_copy(update={"max_evaluations": None, "max_wall_s": None})
    return spec.model_copy(update={"evolution": evolution, "budgets": budgets})


def test_a_nursery_campaign_runs_each_case_of_a_genome_once_and_culls() -> None:
    spec = _spec(STAGES)
    suite = spec.load_suite()
    runs: Counter[tuple[str, str]] = Counter()
    staged = counting_staged(spec, suite, runs)
    result = run_in_process(
        spec, seed=2, evaluator=lambda g: staged(g, 1.0, None), staged_evaluator=staged
    )
    assert runs and max(runs.values()) == 1  # reused, never repeated
    assert result.case_runs == sum(runs.values())
    state = result.state
    assert state is not None and state.counters.culled > 0
    full = {gid for gid, ev in result.evaluations.items() if ev.fidelity == 1.0}
    assert set(result.evaluations) == full  # only full evaluations are recorded
    assert {m.id for m in state.population} <= full and {m.id for m in state.archive} <= full
    # Partially run genomes ran a nested prefix of the cases: 5 or 12 of 24.
    per_genome = Counter(gid for gid, _ in runs)
    assert {per_genome[g] for g in per_genome if g not in full} <= {5, 12}
    assert all(per_genome[g] == len(suite.cases) for g in full)


def test_a_nursery_spends_fewer_case_runs_than_full_evaluation() -> None:
    plain, nursery = _spec(None, generations=3), _spec(STAGES, generations=3)
    suite = plain.load_suite()
    full = run_in_process(plain, seed=2, evaluator=make_evaluator(plain, suite))
    staged = run_in_process(nursery, seed=2)
    assert staged.case_runs < 0.6 * full.case_runs
    assert staged.summary.best.fitness is not None


def test_a_custom_evaluator_needs_a_staged_one_with_a_nursery() -> None:
    spec = _spec(STAGES)
    suite = spec.load_suite()
    with pytest.raises(EngineInputError, match="staged_evaluator"):
        run_in_process(spec, seed=1, evaluator=make_evaluator(spec, suite))


def test_the_nursery_key_is_validated_in_a_campaign_file(tmp_path: Path) -> None:
    spec = load_campaign(DEMO)
    bad = tmp_path / "c.yaml"
    bad.write_text(
        f"name: n\nseeds: [{spec.seed_paths[0]}]\nsuite: {spec.suite_path}\n"
        "evolution:\n  nursery:\n    stages: [{fraction: 0.5, promote: 0.5}, "
        "{fraction: 0.2, promote: 0.5}]\n"
    )
    with pytest.raises(CampaignSpecError, match="stage fractions must increase"):
        load_campaign(bad)
    bad.write_text(bad.read_text().replace("[{fraction: 0.5, promote: 0.5}, ", "["))
    assert load_campaign(bad).evolution.nursery is not None


def test_a_nursery_campaign_with_out_writes_its_files(tmp_path: Path) -> None:
    # Culled children have no full evaluation: the generation rows leave them out.
    result = run_in_process(_spec(STAGES, generations=2), seed=2, out_dir=tmp_path)
    assert result.state is not None and result.state.counters.culled > 0
    rows = (tmp_path / "fitness-history.jsonl").read_text().splitlines()
    assert len(rows) == result.summary.evaluations
    assert (tmp_path / "generations.jsonl").read_text().count("\n") == 3
    summary = (tmp_path / "summary.json").read_text()
    assert f'"case_runs": {result.case_runs}' in summary
