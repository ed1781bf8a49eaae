"""MAP-Elites: one best genome per descriptor cell, uniform parents, loop == farm."""

from __future__ import annotations

import pytest

from evofarm.campaign import control
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.evolution.selection.base import Member
from evofarm.evolution.selection.map_elites import Axis, MapElitesOptions, cell_of, grid
from evofarm.store.memory import MemoryStore

from .test_engine import drive, spec_with
from .test_random_search import _random_search_spec, _synthetic

STEPS = [{"name": "steps", "edges": [1, 2, 3, 4, 5]}]


def test_cells_keep_their_best_and_bins_follow_the_edges() -> None:
    axes = [Axis(name="steps", edges=[2, 4]), Axis(name="tokens", edges=[100])]
    a = Member(id="a", fitness=0.5, descriptors={"steps": 1, "tokens": 50})
    b = Member(id="b", fitness=0.9, descriptors={"steps": 1.5, "tokens": 10})
    c = Member(id="c", fitness=0.1, descriptors={"steps": 4, "tokens": 500})
    assert cell_of(a, axes) == (0, 0) and cell_of(c, axes) == (2, 1)
    assert {cell: m.id for cell, m in grid([a, b, c], axes).items()} == {
        (0, 0): "b",
        (2, 1): "c",
    }
    with pytest.raises(ValueError, match="strictly increasing"):
        Axis(name="steps", edges=[3, 2])
    with pytest.raises(ValueError, match="must not repeat"):
        MapElitesOptions.model_validate({"descriptors": [STEPS[0], STEPS[0]]})


def test_the_population_is_the_grid_of_everything_evaluated() -> None:
    spec = spec_with(selection="map_elites", selection_options={"descriptors": STEPS})
    state, genomes = drive(spec, 2, 5)
    axes = MapElitesOptions.model_validate({"descriptors": STEPS}).descriptors
    cells = [cell_of(m, axes) for m in state.population]
    assert len(cells) == len(set(cells)) > 1  # one member per cell, several niches
    for member in state.population:
        assert member.descriptors["steps"] == genomes[member.id].traits.step_count
    # Each occupant is the best evaluated genome in its cell so far.
    assert state.best is not None and state.best.id == state.population[0].id
    again, _ = drive(spec, 2, 5)
    assert again.model_dump() == state.model_dump()


def test_other_strategies_keep_descriptors_out_of_the_checkpoint() -> None:
    state, _ = drive(spec_with(), 2, 2)
    assert all(not m.descriptors for m in state.population)
    assert "descriptors" not in state.model_dump_json()


def test_map_elites_finds_the_same_best_in_process_and_on_the_farm() -> None:
    base = _random_search_spec()
    evolution = base.evolution.model_copy(
        update={"selection": "map_elites", "selection_options": {"descriptors": STEPS}}
    )
    spec = base.model_copy(update={"evolution": evolution})
    suite = spec.load_suite()
    result = run_in_process(spec, seed=3, evaluator=lambda g: _synthetic(g, suite, spec.fidelity))
    store = MemoryStore()
    cid = control.submit(store, spec, seed=3)
    dispatcher = ThreadDispatcher(
        store, lambda c, g: _synthetic(g, c.suite, c.spec.fidelity), workers=2
    )
    try:
        Scheduler(store, dispatcher, cid, options=SchedulerOptions(wait_s=0.2)).run()
    finally:
        dispatcher.close()
    checkpoint = store.load_checkpoint(cid)
    assert checkpoint is not None
    assert checkpoint.state["archive"][0]["id"] == result.summary.best.genome
    assert result.state is not None
    assert [m["id"] for m in checkpoint.state["population"]] == [
        m.id for m in result.state.population
    ]
