"""Random search: mutated seeds only, no selection, same accounting, loop == farm."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.errors import CampaignSpecError
from evofarm.evolution.engine import plan_generation
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.fitness.suite import TaskSuite
from evofarm.store.memory import MemoryStore

from .test_engine import drive, fake_evaluate, spec_with

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"


def test_offspring_are_mutated_seeds_and_nothing_is_selected() -> None:
    spec = spec_with(
        selection="random_search", selection_options={"max_operators": 4}, population=2
    )
    state0, seeds = drive(spec, 11, 0)
    seed_ids = sorted(seeds)
    state, genomes = drive(spec, 11, 5)
    # Every seed stays a parent (population 2 does not truncate them); no child joins.
    assert sorted(m.id for m in state0.population) == seed_ids
    assert sorted(m.id for m in state.population) == seed_ids
    counts = set()
    for task in plan_generation(state, spec):
        assert task.kind == "mutate" and task.crossover is None
        assert len(task.parents) == 1 and task.parents[0] in seed_ids
        assert 1 <= len(task.operators) <= 4
        counts.add(len(task.operators))
    assert len(counts) > 1  # the number of applications is drawn, not fixed
    # The reported best is the best genome evaluated so far.
    evaluated = {gid: fake_evaluate(g).score for gid, g in genomes.items()}
    assert state.best is not None and state.best.fitness == max(evaluated.values())
    assert state.best_history == sorted(state.best_history)
    assert state.counters.tasks == 5 * spec.evolution.lam


def test_random_search_options_are_validated_with_a_location(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    spec = load_campaign(DEMO)
    body = (
        f"name: rs\nseeds: [{spec.seed_paths[0]}]\nsuite: {spec.suite_path}\n"
        "evolution:\n  selection: random_search\n  selection_options: {max_operatorz: 2}\n"
    )
    bad.write_text(body)
    with pytest.raises(CampaignSpecError) as info:
        load_campaign(bad)
    assert info.value.location.line == 6
    assert "random_search option 'max_operatorz': unknown key" in str(info.value)
    bad.write_text(body.replace("selection: random_search", "selection: random_serch"))
    with pytest.raises(CampaignSpecError) as info:
        load_campaign(bad)
    assert info.value.location.line == 5
    assert "unknown selection strategy 'random_serch'" in str(info.value)
    assert "did you mean 'random_search'" in str(info.value)


def _synthetic(genome: Genome, suite: TaskSuite, fidelity: float) -> Evaluation:
    digest = int(hashlib.sha256(genome.id.encode()).hexdigest()[:8], 16)
    score = (digest % 10_000) / 10_000
    return Evaluation(
        genome_id=genome.id,
        suite_id=suite.id,
        fidelity=fidelity,
        tokens=10,
        score=score,
        objectives={"quality": score, "fitness": score, "tokens": 10.0, "latency": 1.0,
                    "cost": 0.0},
    )  # fmt: skip


def _random_search_spec() -> CampaignSpec:
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={"generations": 4, "population": 4, "offspring": 6, "target_fitness": None,
                "selection": "random_search", "selection_options": {"max_operators": 3}}
    )  # fmt: skip
    budgets = spec.budgets.model_copy(update={"max_evaluations": None, "max_wall_s": None})
    return spec.model_copy(update={"evolution": evolution, "budgets": budgets})


def test_farm_scheduler_finds_the_same_best_as_the_loop() -> None:
    spec = _random_search_spec()
    suite = spec.load_suite()
    result = run_in_process(spec, seed=4, evaluator=lambda g: _synthetic(g, suite, spec.fidelity))
    store = MemoryStore()
    cid = control.submit(store, spec, seed=4)
    dispatcher = ThreadDispatcher(
        store, lambda c, g: _synthetic(g, c.suite, c.spec.fidelity), workers=2
    )
    try:
        outcome = Scheduler(store, dispatcher, cid, options=SchedulerOptions(wait_s=0.2)).run()
    finally:
        dispatcher.close()
    checkpoint = store.load_checkpoint(cid)
    assert checkpoint is not None
    top = checkpoint.state["archive"][0]
    assert (outcome.status, outcome.reason) == ("completed", result.summary.reason)
    assert (top["id"], top["fitness"]) == (result.summary.best.genome, result.summary.best.fitness)
    assert store.counters(cid)["evaluations"] == result.summary.evaluations
