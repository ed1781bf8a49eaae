"""The ask/tell engine: determinism, order independence, checkpoints as JSON."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.evolution.engine import (
    BreedResult,
    BreedTask,
    EvolutionState,
    breed_context,
    initial_genomes,
    make_offspring,
    plan_generation,
    seed_state,
    select,
    to_evaluate,
)
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.pipeline.loader import load_pipeline

from .helpers import synthetic_evaluation

DEMO = "pipelines/campaigns/demo.yaml"
WANTED = ["title", "lower", "regex_replace", "replace", "strip", "split"]


def fake_evaluate(genome: Genome) -> Evaluation:
    """Case i passes fully if op WANTED[i] occurs anywhere, else one check of four."""
    ops = {op["op"] for step in genome.pipeline["steps"] for op in step.get("operations", [])}
    return synthetic_evaluation(genome, [4 if w in ops else 1 for w in WANTED])


def spec_with(**evolution: object) -> CampaignSpec:
    base = load_campaign(DEMO)
    evo = base.evolution.model_copy(update={"target_fitness": None, **evolution})
    return base.model_copy(update={"evolution": evo}).with_base_dir(base.base_dir)


def drive(
    spec: CampaignSpec,
    seed: int,
    generations: int,
    shuffle: random.Random | None = None,
    checkpoint: Callable[[EvolutionState], EvolutionState] = lambda s: s,
) -> tuple[EvolutionState, dict[str, Genome]]:
    """The loop of the engine docstring, optionally shuffling work order."""
    seeds = initial_genomes([load_pipeline(p) for p in spec.seed_paths])
    genomes = {g.id: g for g in seeds}
    evals = {g.id: fake_evaluate(g) for g in seeds}
    state = seed_state(spec, "c", seed, seeds, evals)
    for _ in range(generations):
        tasks = plan_generation(state, spec)
        if shuffle:
            tasks = shuffle.sample(tasks, len(tasks))
        results: list[BreedResult] = []
        for task in tasks:
            parents = [genomes[i] for i in task.parents]
            donors = [genomes[i] for i in task.donors]
            off = make_offspring(task, parents, breed_context(task, spec, donors))
            results.append(off.result)
            if off.genome is not None:
                genomes.setdefault(off.genome.id, off.genome)
        for gid in to_evaluate(results, evals):
            evals[gid] = fake_evaluate(genomes[gid])
        if shuffle:
            results = shuffle.sample(results, len(results))
        state = checkpoint(select(state, results, genomes, evals, spec))
    return state, genomes


def test_same_seed_same_result_whatever_the_order() -> None:
    spec = spec_with()
    first, _ = drive(spec, 5, 6)
    shuffled, _ = drive(spec, 5, 6, shuffle=random.Random(99))
    assert first.model_dump() == shuffled.model_dump()
    other, _ = drive(spec, 6, 6)
    assert other.model_dump() != first.model_dump()


def test_checkpoints_round_trip_through_json_mid_run() -> None:
    spec = spec_with()

    def through_json(state: EvolutionState) -> EvolutionState:
        return EvolutionState.model_validate(json.loads(json.dumps(state.model_dump(mode="json"))))

    plain, _ = drive(spec, 3, 5)
    resumed, _ = drive(spec, 3, 5, checkpoint=through_json)
    assert plain == resumed


def test_evolution_improves_and_counts_outcomes() -> None:
    spec = spec_with()
    state, genomes = drive(spec, 1, 12)
    assert state.best_history[-1] > state.best_history[0]
    assert state.best_history == sorted(state.best_history)  # plus-selection never loses the best
    assert state.generation == 12
    stats = state.operator_stats
    assert stats["feature_insertion"].attempts > 0
    assert stats["feature_insertion"].success_rate > 0.5
    # Prompt evolution has no LLM step to work on in the demo.
    assert stats["prompt_evolution"].success_rate == 0.0
    assert state.counters.tasks == 12 * spec.evolution.lam
    assert state.best is not None and state.best.id in genomes


@pytest.mark.parametrize("selection", ["tournament", "mu_comma_lambda", "nsga2", "mu_plus_lambda"])
@pytest.mark.parametrize("pairing", ["fitness", "complementary", "distance"])
def test_every_strategy_runs_deterministically(selection: str, pairing: str) -> None:
    spec = spec_with(selection=selection, pairing=pairing, crossover_rate=0.6)
    a, _ = drive(spec, 2, 3)
    b, _ = drive(spec, 2, 3, shuffle=random.Random(1))
    assert a == b
    assert 1 <= len(a.population) <= spec.evolution.population


def test_tasks_are_json_and_offspring_deterministic() -> None:
    spec = spec_with(crossover_rate=0.5)
    state, genomes = drive(spec, 4, 2)
    tasks = plan_generation(state, spec)
    assert len(tasks) == spec.evolution.lam
    assert tasks == plan_generation(state, spec)
    for task in tasks:
        again = BreedTask.model_validate(json.loads(task.model_dump_json()))
        assert again == task
        assert (task.kind == "crossover") == (len(task.parents) == 2)
        parents = [genomes[i] for i in task.parents]
        donors = [genomes[i] for i in task.donors]
        one = make_offspring(task, parents, breed_context(task, spec, donors))
        two = make_offspring(again, list(reversed(parents)), breed_context(again, spec, donors))
        assert one.result == two.result
        assert one.genome == two.genome


def test_make_offspring_needs_its_parents() -> None:
    spec = spec_with()
    state, _ = drive(spec, 4, 1)
    task = plan_generation(state, spec)[0]
    with pytest.raises(KeyError, match="not loaded"):
        make_offspring(task, [], breed_context(task, spec))


def test_identical_offspring_collapse_to_one_genome() -> None:
    spec = spec_with()
    state, genomes = drive(spec, 8, 1)
    seed_member = state.population[0]
    a = BreedResult(slot=0, genome=None)
    evals = {seed_member.id: fake_evaluate(genomes[seed_member.id])}
    kid = next(g for g in genomes.values() if g.id != seed_member.id)
    evals[kid.id] = fake_evaluate(kid)
    results = [a, BreedResult(slot=1, genome=kid.id), BreedResult(slot=2, genome=kid.id)]
    assert to_evaluate(results, [seed_member.id]) == [kid.id]
    nxt = select(state, results, genomes, evals, spec)
    assert nxt.counters.discarded == state.counters.discarded + 1
    assert nxt.counters.duplicates >= state.counters.duplicates + 1


def test_seed_state_requires_seeds() -> None:
    with pytest.raises(ValueError, match="at least one seed"):
        seed_state(spec_with(), "c", 1, [], {})
