"""Random search: mutated seeds only, no selection, same accounting, loop == farm."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from evofarm.campaign import control
from evofarm.campaign.local import run as local_run
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.scheduler import breeding as breeding_module
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Outcome, Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.campaign.worker import work
from evofarm.evolution.engine import (
    BreedTask,
    Offspring,
    breed_context,
    donors_of,
    evidence_for,
    initial_genomes,
    make_offspring,
    plan_generation,
)
from evofarm.evolution.examples import examples_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.runtime import Attempt
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.registry import needs_evidence, registered_operators
from evofarm.evolution.proposals import evidence_of
from evofarm.evolution.rng import rng_for
from evofarm.evolution.selection.base import Member
from evofarm.fitness.records import Evaluation
from evofarm.fitness.suite import TaskSuite
from evofarm.pipeline.loader import load_pipeline
from evofarm.store.memory import MemoryStore

from .helpers import DEMO, demo_campaign_text, refused
from .test_engine import drive, fake_evaluate, spec_with


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
    body = demo_campaign_text(
        "rs", "  selection: random_search\n  selection_options: {max_operatorz: 2}\n"
    )
    error = refused(bad, body)
    assert error.location.line == 6
    assert "random_search option 'max_operatorz': unknown key" in str(error)
    error = refused(bad, body.replace("selection: random_search", "selection: random_serch"))
    assert error.location.line == 5
    assert "unknown selection strategy 'random_serch'" in str(error)
    assert "did you mean 'random_search'" in str(error)


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


def _run_on_farm(
    spec: CampaignSpec, options: SchedulerOptions
) -> tuple[MemoryStore, str, Outcome, dict[str, Any]]:
    """Submit ``spec`` (seed 4) to a memory store and run it to the end on two threads with the
    synthetic evaluator; returns the store, campaign id, outcome and final checkpoint state."""
    store = MemoryStore()
    cid = control.submit(store, spec, seed=4)
    dispatcher = ThreadDispatcher(
        store, lambda c, g: _synthetic(g, c.suite, c.spec.fidelity), workers=2
    )
    try:
        outcome = Scheduler(store, dispatcher, cid, options=options).run()
    finally:
        dispatcher.close()
    checkpoint = store.load_checkpoint(cid)
    assert checkpoint is not None
    return store, cid, outcome, checkpoint.state


def test_farm_scheduler_finds_the_same_best_as_the_loop() -> None:
    spec = _random_search_spec()
    suite = spec.load_suite()
    result = run_in_process(spec, seed=4, evaluator=lambda g: _synthetic(g, suite, spec.fidelity))
    store, cid, outcome, state = _run_on_farm(spec, SchedulerOptions(wait_s=0.2))
    top = state["archive"][0]
    assert (outcome.status, outcome.reason) == ("completed", result.summary.reason)
    assert (top["id"], top["fitness"]) == (result.summary.best.genome, result.summary.best.fitness)
    assert store.counters(cid)["evaluations"] == result.summary.evaluations


# ---- blind by default, feedback on request -----------------------------------

EVIDENCE_OPERATORS = {"reflective_mutation"}


def _draws(spec: CampaignSpec, generations: int = 4) -> list[BreedTask]:
    state, _ = drive(spec, 5, 0)
    tasks: list[BreedTask] = []
    for _ in range(generations):
        tasks.extend(plan_generation(state, spec))
        state = state.model_copy(update={"generation": state.generation + 1})
    return tasks


def test_only_reflective_mutation_is_registered_as_needing_evidence() -> None:
    flagged = {n for n, info in registered_operators().items() if info.needs_evidence}
    assert flagged == EVIDENCE_OPERATORS
    assert needs_evidence("reflective_mutation") and not needs_evidence("llm_mutation")


def test_blind_draws_leave_out_needs_evidence_operators_and_carry_no_evidence() -> None:
    spec = spec_with(selection="random_search", selection_options={"max_operators": 5})
    assert spec.evolution.operators["reflective_mutation"] > 0  # the demo gives it 0.5
    tasks = _draws(spec)
    drawn = {name for task in tasks for name in task.operators}
    assert drawn and not drawn & EVIDENCE_OPERATORS
    assert all(not task.feedback for task in tasks)
    assert all(task.model_dump(mode="json")["feedback"] is False for task in tasks)
    # A task that travels as JSON stays blind.
    assert BreedTask.model_validate(tasks[0].model_dump(mode="json")).feedback is False
    seeds = initial_genomes([load_pipeline(p) for p in spec.seed_paths])
    evaluations = {g.id: fake_evaluate(g) for g in seeds}
    examples = examples_of(spec.load_suite())
    task = tasks[0]
    assert evidence_for(task, evaluations, examples) is None
    # Even a caller that passes evidence and attempts cannot give them to a blind task.
    seen = evidence_of(evaluations[task.parents[0]], examples)
    attempt = Attempt(genome="g", generation=1, operator="llm_mutation", change="x", fitness=0.5)
    context = breed_context(task, spec, evidence=seen, attempts=(attempt,))
    assert context.evidence is None and context.attempts == ()


def test_feedback_true_draws_every_operator_and_gives_the_seeds_evidence() -> None:
    spec = spec_with(
        selection="random_search", selection_options={"max_operators": 5, "feedback": True}
    )
    tasks = _draws(spec)
    assert {name for task in tasks for name in task.operators} & EVIDENCE_OPERATORS
    assert all(task.feedback for task in tasks)
    assert all("feedback" not in task.model_dump(mode="json") for task in tasks)
    seeds = initial_genomes([load_pipeline(p) for p in spec.seed_paths])
    evaluations = {g.id: fake_evaluate(g) for g in seeds}
    examples = examples_of(spec.load_suite())
    evidence = evidence_for(tasks[0], evaluations, examples)
    assert evidence is not None
    assert evidence == evidence_of(evaluations[tasks[0].parents[0]], examples)
    context = breed_context(tasks[0], spec, evidence=evidence)
    assert context.evidence == evidence


def test_feedback_true_draws_as_random_search_did_before() -> None:
    # feedback: true is the old behaviour: the same draw over every configured operator.
    spec = spec_with(
        selection="random_search", selection_options={"max_operators": 4, "feedback": True}
    )
    state, _ = drive(spec, 9, 0)
    names = list(spec.evolution.operators)
    weights = [spec.evolution.operators[n] for n in names]
    seeds = sorted(m.id for m in state.population)
    for task in plan_generation(state, spec):
        rng = rng_for(9, 1, f"plan:{task.slot}")
        parent = seeds[rng.randrange(len(seeds))]
        count = rng.randint(1, 4)
        assert task.parents == [parent]
        assert task.operators == rng.choices(names, weights=weights, k=count)


def _member(gid: str, fitness: float) -> Member:
    return Member(id=gid, fitness=fitness)


def test_blind_donors_are_chosen_by_id_not_by_fitness() -> None:
    population = [_member("c", 0.9), _member("a", 0.1), _member("b", 0.5)]
    blind = spec_with(selection="random_search", donors=2).evolution
    seen = spec_with(selection="random_search", donors=2, selection_options={"feedback": True})
    assert donors_of(population, blind) == ["a", "b"]
    assert donors_of(population, seen.evolution) == ["c", "b"]


def test_blind_random_search_without_a_blind_operator_is_refused(tmp_path: Path) -> None:
    body = demo_campaign_text(
        "rs",
        "  operators: {reflective_mutation: 0.5, step_mutation: 0.0}\n"
        "  selection: random_search\n  selection_options: {max_operators: 2}\n",
    )
    bad = tmp_path / "c.yaml"
    error = refused(bad, body)
    assert error.location.line == 7
    assert "needs evidence (reflective_mutation)" in str(error)
    assert "feedback: true" in str(error)
    bad.write_text(body.replace("{max_operators: 2}", "{max_operators: 2, feedback: true}"))
    assert load_campaign(bad).evolution.selection_options["feedback"] is True


Seen = list[tuple[bool, bool, bool]]


def _spy(monkeypatch: pytest.MonkeyPatch, module: object, seen: Seen) -> None:
    real = make_offspring

    def spying(task: BreedTask, parents: list[Genome], context: OperatorContext) -> Offspring:
        seen.append((task.feedback, context.evidence is not None, bool(context.attempts)))
        return real(task, parents, context)

    monkeypatch.setattr(module, "make_offspring", spying)


@pytest.mark.parametrize("feedback", [False, True])
@pytest.mark.parametrize("breeding", ["batch", "tasks", "scheduler"])
def test_loop_and_farm_give_operators_the_same_evidence_and_best(
    monkeypatch: pytest.MonkeyPatch, feedback: bool, breeding: str
) -> None:
    spec = _random_search_spec()
    evolution = spec.evolution.model_copy(
        update={"selection_options": {"max_operators": 3, "feedback": feedback}}
    )
    spec = spec.model_copy(update={"evolution": evolution})
    suite = spec.load_suite()
    loop_seen: Seen = []
    farm_seen: Seen = []
    _spy(monkeypatch, local_run, loop_seen)
    result = run_in_process(spec, seed=4, evaluator=lambda g: _synthetic(g, suite, spec.fidelity))
    _spy(monkeypatch, work, farm_seen)
    _spy(monkeypatch, breeding_module, farm_seen)
    options = SchedulerOptions(wait_s=0.2, breeding=breeding)  # type: ignore[arg-type]
    _, _, outcome, state = _run_on_farm(spec, options)
    top = state["archive"][0]
    assert (outcome.status, outcome.reason) == ("completed", result.summary.reason)
    assert (top["id"], top["fitness"]) == (result.summary.best.genome, result.summary.best.fitness)
    assert loop_seen and sorted(farm_seen) == sorted(loop_seen)
    # Blind: no task was planned with feedback and no operator saw evidence.
    # With feedback: every (mutate) task saw its seed's evidence.
    assert {(f, e) for f, e, _ in loop_seen} == {(feedback, feedback)}
    stats = state["operator_stats"]
    assert ("reflective_mutation" in stats) is feedback
