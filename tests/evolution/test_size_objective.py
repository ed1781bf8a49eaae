"""``size`` as an optional objective: parsimony for NSGA-II."""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import load_campaign
from evofarm.evolution.engine import member_of
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import CaseResult, aggregate
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import Budgets
from evofarm.pipeline.loader import pipeline_from_data

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"


def genome(ops: int) -> Genome:
    step = {
        "name": "out",
        "type": "transform",
        "input": "{{inputs.x}}",
        "operations": [{"op": "lower"}] * ops,
    }
    return Genome.from_pipeline(pipeline_from_data({"name": "p", "steps": [step]}, "<t>"))


def test_size_is_a_minimised_objective_from_the_genome() -> None:
    config = FitnessConfig(objectives=["quality", "size"])
    g = genome(3)
    case = CaseResult(case_id="c", passed_checks=1, total_checks=2, efficiency=1.0)
    evaluation = aggregate(
        [case], suite_id="s", budgets=Budgets(), config=config, fidelity=1.0, genome_id=g.id
    )
    assert "size" not in evaluation.objectives  # a genome property, not an evaluation's
    member = member_of(g, evaluation, config)
    assert member.objectives == (0.5, -4.0)  # 1 step + 3 ops
    with pytest.raises(KeyError):
        config.oriented(evaluation.objectives)


def test_nsga2_campaign_with_quality_and_size() -> None:
    spec = load_campaign(DEMO)
    spec = spec.model_copy(
        update={
            "fitness": spec.fitness.model_copy(update={"objectives": ["quality", "size"]}),
            "evolution": spec.evolution.model_copy(
                update={"selection": "nsga2", "generations": 3, "target_fitness": None}
            ),
        }
    ).with_base_dir(spec.base_dir)
    one = run_in_process(spec, seed=3).summary
    two = run_in_process(spec, seed=3).summary
    assert one.status == "completed" and one.best == two.best
