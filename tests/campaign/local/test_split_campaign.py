"""A campaign on a split suite: selection on training, winner chosen on validation."""

from __future__ import annotations

import json
from pathlib import Path

from evofarm.campaign.local.evaluator import make_evaluator
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "pipelines" / "campaigns" / "demo.yaml"
CONTACTS = ROOT / "pipelines" / "suites" / "contacts.yaml"


def split_demo(tmp_path: Path, generations: int = 3) -> CampaignSpec:
    suite = tmp_path / "contacts-split.yaml"
    suite.write_text(
        CONTACTS.read_text(encoding="utf-8") + "\nsplit: {validation: 0.25, seed: 3}\n",
        encoding="utf-8",
    )
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={"generations": generations, "target_fitness": None}
    )
    return spec.model_copy(update={"suite": str(suite), "evolution": evolution}).with_base_dir(
        spec.base_dir
    )


def test_selection_sees_training_cases_and_the_summary_reports_both(tmp_path: Path) -> None:
    spec = split_demo(tmp_path)
    suite = spec.load_suite()
    training, held_out = suite.training(), suite.held_out()
    assert held_out is not None and len(held_out.cases) == 6
    out = tmp_path / "out"
    result = run_in_process(spec, seed=2, out_dir=out)
    # Every evaluation selection ranked ran on the training cases only.
    assert {e.suite_id for e in result.evaluations.values()} == {training.id}
    held = set(suite.held_out_ids())
    for evaluation in result.evaluations.values():
        assert not held & {c.case_id for c in evaluation.cases}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["validation"] is not None
    assert summary["best"]["fitness"] == result.evaluations[summary["best"]["genome"]].score
    rows = [json.loads(line) for line in (out / "fitness-history.jsonl").read_text().splitlines()]
    assert len(rows) == summary["evaluations"]
    validation_rows = [r for r in rows if r["split"] == "validation"]
    assert 1 <= len(validation_rows) <= 4
    checks_per_case = 4
    assert {r["tests_total"] for r in validation_rows} == {6 * checks_per_case}
    assert {r["tests_total"] for r in rows if r["split"] == "train"} == {18 * checks_per_case}
    assert summary["best"]["validation"] in {r["fitness"] for r in validation_rows}


def test_validation_evaluator_is_separate_and_sees_only_held_out_cases(tmp_path: Path) -> None:
    spec = split_demo(tmp_path, generations=1)
    suite = spec.load_suite()
    seen: list[Evaluation] = []
    held_out = suite.held_out()
    assert held_out is not None
    inner = make_evaluator(spec, held_out)

    def validation(genome: Genome) -> Evaluation:
        evaluation = inner(genome)
        seen.append(evaluation)
        return evaluation

    result = run_in_process(spec, seed=1, validation_evaluator=validation)
    assert seen and {e.suite_id for e in seen} == {held_out.id}
    assert result.summary.best.validation in {e.score for e in seen}


def test_same_seed_same_winner_on_a_split_suite(tmp_path: Path) -> None:
    spec = split_demo(tmp_path)
    one = run_in_process(spec, seed=4).summary
    two = run_in_process(spec, seed=4).summary
    assert one.best == two.best and one.evaluations == two.evaluations
