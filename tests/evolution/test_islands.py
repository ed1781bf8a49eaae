"""Islands: colonies breed apart, migrate their best, scouts favour novelty; loop == farm."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.errors import CampaignSpecError
from evofarm.evolution.engine import plan_generation
from evofarm.evolution.selection.base import Member
from evofarm.evolution.selection.islands import (
    ColonyOptions,
    IslandOptions,
    colony_key,
    migrate,
)
from evofarm.store.memory import MemoryStore

from .helpers import DEMO, demo_campaign_text, refused
from .test_engine import drive, spec_with
from .test_random_search import _synthetic


def _m(gid: str, fitness: float, genes: tuple[str, ...] = ()) -> Member:
    return Member(id=gid, fitness=fitness, genes=genes)


def _island_spec(**options: object) -> CampaignSpec:
    opts = {"count": 3, "migration_interval": 2, "migrants": 1, **options}
    return spec_with(selection="islands", selection_options=opts, population=9, offspring=9)


def test_slots_breed_on_their_island_and_islands_keep_their_size() -> None:
    spec = _island_spec(migration_interval=1000)
    state, _ = drive(spec, 3, 4)
    islands = state.strategy_state["islands"]
    assert isinstance(islands, list) and len(islands) == 3
    assert all(isinstance(isl, list) and 1 <= len(isl) <= 3 for isl in islands)
    assert sorted({m.id for m in state.population}) == sorted(
        {i for isl in islands if isinstance(isl, list) for i in isl if isinstance(i, str)}
    )
    for task in plan_generation(state, spec):
        home = islands[task.slot % 3]
        assert isinstance(home, list) and set(task.parents) <= set(home)
    assert state.strategy_state["generation"] == 4


def test_same_seed_same_islands_whatever_the_work_order() -> None:
    spec = _island_spec()
    first, _ = drive(spec, 8, 5)
    second, _ = drive(spec, 8, 5, shuffle=random.Random(1))
    assert first.model_dump() == second.model_dump()


def test_ring_migration_sends_the_best_to_the_next_island() -> None:
    islands = [[_m("a", 0.9), _m("b", 0.1)], [_m("c", 0.5), _m("d", 0.2)], [_m("e", 0.3)]]
    options = IslandOptions(count=3, migrants=1, topology="ring")
    moved = migrate(islands, options, random.Random(0), [m for i in islands for m in i])
    ids = [sorted(m.id for m in isl) for isl in moved]
    # a (0.9) replaces d on island 1; c (0.5) replaces e on island 2; e (0.3) beats b.
    assert ids == [["a", "e"], ["a", "c"], ["c"]]
    random_options = IslandOptions(count=3, migrants=1, topology="random")
    for seed in range(5):
        out = migrate(islands, random_options, random.Random(seed), [])
        assert [len(isl) for isl in out] == [2, 2, 1]


def test_scouts_rank_novelty_above_fitness_and_specialists_their_objective() -> None:
    common = [_m(f"c{i}", 0.8, ("x", "y")) for i in range(4)]
    odd = _m("odd", 0.2, ("p", "q"))
    reference = [*common, odd]
    scout = colony_key(ColonyOptions(role="scout", novelty_weight=0.8), reference)
    assert sorted(reference, key=scout)[0].id == "odd"
    plain = colony_key(ColonyOptions(), reference)
    assert sorted(reference, key=plain)[0].id == "c0"
    cheap = Member(id="cheap", fitness=0.3, objectives=(0.3, -5.0))
    good = Member(id="good", fitness=0.9, objectives=(0.9, -50.0))
    specialist = colony_key(ColonyOptions(role="specialist", objective=1), [])
    assert sorted([good, cheap], key=specialist)[0].id == "cheap"


def test_a_specialist_colony_breeds_with_its_own_operators() -> None:
    colonies = [{}, {"role": "specialist", "operators": {"prompt_evolution": 1.0},
                     "crossover_rate": 0.0}]  # fmt: skip
    spec = _island_spec(count=2, colonies=colonies)
    state, _ = drive(spec, 5, 2)
    tasks = [t for t in plan_generation(state, spec) if t.slot % 2 == 1]
    assert tasks and all(t.kind == "mutate" for t in tasks)
    assert {op for t in tasks for op in t.operators} == {"prompt_evolution"}


def test_island_options_are_validated_with_a_location(tmp_path: Path) -> None:
    body = demo_campaign_text(
        "isl", "  selection: islands\n  selection_options: {count: 2, topologie: ring}\n"
    )
    bad = tmp_path / "c.yaml"
    error = refused(bad, body)
    assert error.location.line == 6
    assert "islands option 'topologie': unknown key" in str(error)
    bad.write_text(body.replace("topologie: ring", "colonies: [{}, {}, {}]"))
    with pytest.raises(CampaignSpecError, match="3 colonies for 2 islands"):
        load_campaign(bad)
    bad.write_text(body.replace("topologie: ring", "colonies: [{operators: {nope: 1}}]"))
    with pytest.raises(CampaignSpecError, match="unknown operator 'nope'"):
        load_campaign(bad)


def _farm_spec() -> CampaignSpec:
    spec = load_campaign(DEMO)
    colonies = [{}, {"role": "scout"}, {"role": "specialist", "crossover_rate": 0.0}]
    evolution = spec.evolution.model_copy(
        update={"generations": 4, "population": 6, "offspring": 6, "target_fitness": None,
                "selection": "islands",
                "selection_options": {"count": 3, "migration_interval": 2, "migrants": 1,
                                      "topology": "random", "colonies": colonies}}
    )  # fmt: skip
    budgets = spec.budgets.model_copy(update={"max_evaluations": None, "max_wall_s": None})
    return spec.model_copy(update={"evolution": evolution, "budgets": budgets})


def test_an_island_campaign_finds_the_same_best_in_process_and_on_the_farm() -> None:
    spec = _farm_spec()
    suite = spec.load_suite()
    result = run_in_process(spec, seed=6, evaluator=lambda g: _synthetic(g, suite, spec.fidelity))
    store = MemoryStore()
    cid = control.submit(store, spec, seed=6)
    dispatcher = ThreadDispatcher(
        store, lambda c, g: _synthetic(g, c.suite, c.spec.fidelity), workers=3
    )
    try:
        outcome = Scheduler(store, dispatcher, cid, options=SchedulerOptions(wait_s=0.2)).run()
    finally:
        dispatcher.close()
    checkpoint = store.load_checkpoint(cid)
    assert checkpoint is not None
    top = checkpoint.state["archive"][0]
    assert outcome.status == "completed"
    assert (top["id"], top["fitness"]) == (result.summary.best.genome, result.summary.best.fitness)
    assert store.counters(cid)["evaluations"] == result.summary.evaluations
    assert checkpoint.state["strategy_state"]["generation"] == 4
