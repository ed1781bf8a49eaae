"""Collective memory in the loop: winners mined at the end, fragments offered on opt-in."""

from __future__ import annotations

from pathlib import Path

from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import CampaignSpec, MemoryUse, load_campaign
from evofarm.evolution.engine import EvolutionState
from evofarm.store.collective import InMemoryCollective

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"


def _spec(memory: MemoryUse, generations: int = 4) -> CampaignSpec:
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(update={"generations": generations})
    return spec.model_copy(update={"evolution": evolution, "memory": memory})


def test_a_finished_campaign_is_mined_and_a_later_one_is_offered_its_fragments() -> None:
    memory = InMemoryCollective()
    first = run_in_process(_spec(MemoryUse()), seed=1, collective=memory)
    assert first.best is not None
    mined = memory.patterns()
    assert {p.kind for p in mined} >= {"ops", "structure"}
    assert all(p.genome == first.best.id for p in mined)
    again = run_in_process(_spec(MemoryUse(use=True), generations=6), seed=2, collective=memory)
    rationales = [m.rationale or "" for g in again.genomes.values() for m in g.mutations]
    assert any("from memory" in r for r in rationales)
    # The same winner mined twice counts two winners for its patterns.
    if again.best is not None and again.best.id == first.best.id:
        assert all(p.winners == 2 for p in memory.patterns() if p.genome == first.best.id)


def test_without_opting_in_nothing_is_offered_and_results_do_not_change() -> None:
    memory = InMemoryCollective()
    run_in_process(_spec(MemoryUse(), generations=2), seed=1, collective=memory)
    assert memory.patterns()
    quiet = MemoryUse(contribute=False)
    plain = run_in_process(_spec(quiet, generations=3), seed=3)
    beside = run_in_process(_spec(quiet, generations=3), seed=3, collective=memory)
    assert plain.state is not None and beside.state is not None

    def ranked(state: EvolutionState) -> list[tuple[str, float]]:
        return [(m.id, m.fitness) for m in [*state.population, *state.archive]]

    assert ranked(plain.state) == ranked(beside.state)  # latency is measured: left out
    assert "memory" not in _spec(MemoryUse()).model_dump(mode="json")
