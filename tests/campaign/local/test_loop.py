"""The in-process loop: outputs, determinism, budgets, stopping."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from evofarm.campaign.local.loop import Progress, run_in_process
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import CaseResult, Evaluation, aggregate
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import Budgets
from evofarm.pipeline.loader import load_pipeline

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "pipelines" / "campaigns" / "demo.yaml"


def demo(
    evolution: dict[str, Any] | None = None, budgets: dict[str, Any] | None = None, **top: Any
) -> CampaignSpec:
    spec = load_campaign(DEMO)
    update: dict[str, Any] = dict(top)
    if evolution:
        update["evolution"] = spec.evolution.model_copy(update=evolution)
    if budgets is not None:
        update["budgets"] = spec.budgets.model_copy(update=budgets)
    return spec.model_copy(update=update).with_base_dir(spec.base_dir)


def tokens_evaluator(tokens: int) -> Any:
    """A fake evaluator: fitness from step count, ``tokens`` tokens per evaluation."""

    def evaluate(genome: Genome) -> Evaluation:
        case = CaseResult(
            case_id="c",
            passed_checks=min(4, genome.traits.transform_ops % 5),
            total_checks=4,
            tokens=tokens,
            efficiency=1.0,
        )
        return aggregate(
            [case],
            suite_id="s",
            budgets=Budgets(),
            config=FitnessConfig(),
            fidelity=1.0,
            genome_id=genome.id,
        )

    return evaluate


def test_outputs_are_written(tmp_path: Path) -> None:
    seen: list[Progress] = []
    result = run_in_process(
        demo({"generations": 3, "target_fitness": None}),
        seed=2,
        out_dir=tmp_path,
        progress=seen.append,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) == {
        "campaign",
        "status",
        "reason",
        "seed",
        "generations",
        "evaluations",
        "best",
        "tokens",
        "cost_usd",
        "wall_s",
        "approval",
        "case_runs",
    }
    assert summary["status"] == "completed" and summary["generations"] == 3
    assert summary["case_runs"] == result.case_runs > 0
    assert summary["seed"] == 2
    assert set(summary["best"]) == {"genome", "fitness", "validation", "chosen"}
    assert summary["best"]["validation"] is None  # the demo's suite has no split
    rows = [
        json.loads(line) for line in (tmp_path / "fitness-history.jsonl").read_text().splitlines()
    ]
    assert len(rows) == summary["evaluations"] == len(result.evaluations)
    assert set(rows[0]) == {
        "ts",
        "campaign",
        "generation",
        "genome",
        "fitness",
        "tokens",
        "time_ms",
        "tests_passed",
        "tests_total",
        "split",
        "cost_usd",
    }
    assert {r["split"] for r in rows} == {"train"}
    assert rows[0]["generation"] == 0 and rows[0]["tests_total"] == 96
    best = load_pipeline(tmp_path / "best.yaml")
    assert Genome.from_pipeline(best).id == summary["best"]["genome"]
    assert max(r["fitness"] for r in rows) == summary["best"]["fitness"]
    generations = (tmp_path / "generations.jsonl").read_text().splitlines()
    assert [json.loads(g)["generation"] for g in generations] == [0, 1, 2, 3]
    assert "innovation_share" in json.loads(generations[-1])["metrics"]
    assert [p.generation for p in seen] == [0, 1, 2, 3]
    assert seen[-1].evaluations == summary["evaluations"]


def test_same_seed_same_campaign() -> None:
    spec = demo({"generations": 4, "target_fitness": None})
    one = run_in_process(spec, seed=7)
    two = run_in_process(spec, seed=7)
    assert one.state is not None and two.state is not None

    def decisions(state: Any) -> Any:
        # Objectives hold measured latency (noise); every decision must not depend on it.
        return (
            [(m.id, m.fitness) for m in state.population],
            state.best_history,
            state.operator_stats,
            state.counters,
        )

    assert decisions(one.state) == decisions(two.state)
    assert one.summary.best == two.summary.best
    assert one.summary.evaluations == two.summary.evaluations


def test_evaluation_budget_is_a_hard_cap(tmp_path: Path) -> None:
    result = run_in_process(demo({"target_fitness": None}, {"max_evaluations": 20}), seed=1)
    assert result.summary.status == "stopped"
    assert "evaluations" in result.summary.reason
    assert 1 <= result.summary.evaluations <= 20
    # Not even the two seeds fit: nothing is evaluated, there is no winner and no best.yaml.
    seed = ROOT / "pipelines/examples/contact-cleaner-seed.yaml"
    other = tmp_path / "other.yaml"
    other.write_text(seed.read_text().replace("name: contact-cleaner", "name: other"))
    spec = demo(seeds=[str(seed), str(other)], budgets={"max_evaluations": 1})
    out = tmp_path / "out"
    none = run_in_process(spec, seed=1, evaluator=tokens_evaluator(0), out_dir=out)
    assert none.summary.evaluations == 0
    assert none.summary.best.genome is None and none.best is None
    assert none.summary.status == "stopped"
    assert not (out / "best.yaml").exists() and (out / "summary.json").exists()


def test_token_and_wall_budgets_stop_after_a_generation(tmp_path: Path) -> None:
    spec = demo({"target_fitness": None, "generations": 50}, {"max_tokens": 2000})
    result = run_in_process(spec, seed=1, evaluator=tokens_evaluator(100), out_dir=tmp_path)
    assert result.summary.status == "stopped"
    assert result.summary.reason.startswith("budget exceeded: tokens")
    assert result.summary.tokens >= 2000
    assert result.summary.tokens < 2000 + 100 * spec.evolution.lam + 100
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "stopped"
    ticks = itertools.count(step=10.0)
    timed = run_in_process(
        demo({"target_fitness": None}, {"max_wall_s": 35}),
        seed=1,
        evaluator=tokens_evaluator(0),
        clock=lambda: next(ticks),
    )
    assert timed.summary.reason.startswith("budget exceeded: wall time")
    assert timed.summary.generations < 5


def test_target_fitness_stops_early_and_approves() -> None:
    spec = demo({"target_fitness": 0.5})
    result = run_in_process(spec, seed=3)
    assert result.summary.status == "completed"
    assert result.summary.reason == "target fitness 0.5 reached"
    assert result.summary.best.fitness is not None and result.summary.best.fitness >= 0.5
    assert result.summary.generations < spec.evolution.generations
    assert result.summary.approval == "rejected"  # the demo auto-approves at 0.95
