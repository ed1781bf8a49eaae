"""The nursery's pure part: stage config, promotion, culled offspring in ``select``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from evofarm.evolution.engine import breed_context, make_offspring, plan_generation, select
from evofarm.evolution.nursery import NurseryConfig, NurseryStage, culled, promoted
from evofarm.evolution.selection.base import Member

from .test_engine import drive, fake_evaluate, spec_with


def test_stages_must_increase_and_fidelities_scale_with_the_campaign() -> None:
    stages = [{"fraction": 0.2, "promote": 0.5}, {"fraction": 0.5, "promote": 0.25}]
    config = NurseryConfig.model_validate({"stages": stages})
    assert config.fidelities(1.0) == [0.2, 0.5]
    assert config.fidelities(0.5) == [0.1, 0.25]
    with pytest.raises(ValidationError, match="stage fractions must increase"):
        NurseryConfig(stages=[NurseryStage(fraction=0.5, promote=0.5),
                              NurseryStage(fraction=0.2, promote=0.5)])  # fmt: skip
    with pytest.raises(ValidationError):
        NurseryStage(fraction=1.0, promote=0.5)  # a full stage is not a nursery stage


def test_promotion_keeps_the_best_share_with_ties_by_id() -> None:
    cohort = [Member(id=i, fitness=f) for i, f in [("d", 0.5), ("a", 0.9), ("c", 0.5), ("b", 0.1)]]
    assert promoted(cohort, 0.5) == ["a", "c"]
    assert promoted(cohort, 0.01) == ["a"]  # at least one
    assert promoted(list(reversed(cohort)), 0.75) == ["a", "c", "d"]
    assert promoted([], 0.5) == []
    assert culled(["a", "b", "a", "c"], {"a": 1}) == ["b", "c"]


def test_culled_offspring_are_counted_and_never_selected() -> None:
    spec = spec_with()
    state, genomes = drive(spec, 3, 1)
    plan_state, _ = drive(spec, 3, 0)
    results, kids = [], {}
    for task in plan_generation(plan_state, spec):
        off = make_offspring(
            task,
            [genomes[i] for i in task.parents],
            breed_context(task, spec, [genomes[i] for i in task.donors]),
        )
        results.append(off.result)
        if off.genome is not None:
            kids.setdefault(off.genome.id, off.genome)
    assert len(kids) >= 2
    stopped = sorted(kids)[: len(kids) // 2]
    evals = {i: fake_evaluate(g) for i, g in kids.items() if i not in stopped}
    seeds = {m.id for m in plan_state.population}
    for sid in seeds:
        evals[sid] = fake_evaluate(genomes[sid])
    nxt = select(plan_state, results, kids, evals, spec, culled=stopped)
    kept = {m.id for m in nxt.population} | {m.id for m in nxt.archive}
    assert not kept & set(stopped)
    assert nxt.counters.culled == sum(1 for r in results if r.genome in stopped)
    assert '"culled"' in nxt.model_dump_json()
    assert '"culled"' not in state.model_dump_json()  # left out when 0
