"""The final phase: winner chosen on validation, simplified only while fitness holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.final_choice import FINALISTS, SplitName, choose_final
from evofarm.evolution.genome import Genome
from evofarm.evolution.selection.base import Member
from evofarm.fitness.records import CaseResult, Evaluation, aggregate
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import Budgets
from evofarm.pipeline.loader import pipeline_from_data


def genome(*ops: dict[str, Any], dead: bool = False) -> Genome:
    steps: list[dict[str, Any]] = []
    if dead:
        steps.append(
            {
                "name": "dead",
                "type": "transform",
                "input": "{{inputs.x}}",
                "operations": [{"op": "upper"}],
            }
        )
    steps.append(
        {"name": "out", "type": "transform", "input": "{{inputs.x}}", "operations": list(ops)}
    )
    return Genome.from_pipeline(pipeline_from_data({"name": "p", "steps": steps}, "<t>"))


def evaluation(g: Genome, passed: int, total: int = 4, suite: str = "s") -> Evaluation:
    cases = [
        CaseResult(case_id=f"c{i}", passed_checks=int(i < passed), total_checks=1, efficiency=1.0)
        for i in range(total)
    ]
    return aggregate(
        cases,
        suite_id=suite,
        budgets=Budgets(),
        config=FitnessConfig(),
        fidelity=1.0,
        genome_id=g.id,
    )


def state_of(members: list[Member]) -> EvolutionState:
    return EvolutionState(campaign="c", seed=1, generation=3, archive=members, population=members)


class Recorder:
    """A batch evaluator scoring by a table; records every call."""

    def __init__(self, table: dict[tuple[str, SplitName], int]) -> None:
        self.table = table
        self.calls: list[tuple[list[str], SplitName]] = []

    def __call__(self, genomes: Sequence[Genome], split: SplitName) -> dict[str, Evaluation]:
        self.calls.append(([g.id for g in genomes], split))
        return {g.id: evaluation(g, self.table[(g.id, split)], suite=split) for g in genomes}


def test_winner_is_the_finalist_best_on_validation() -> None:
    a, b, c, d = (genome({"op": name}) for name in ("lower", "upper", "title", "strip"))
    members = [Member(id=g.id, fitness=1.0 - i * 0.1, size=2) for i, g in enumerate((a, b, c, d))]
    genomes = {g.id: g for g in (a, b, c, d)}
    train = {g.id: evaluation(g, 4 - i) for i, g in enumerate((a, b, c, d))}
    evaluate = Recorder(
        {
            (a.id, "validation"): 1,
            (b.id, "validation"): 3,
            (c.id, "validation"): 3,
            (d.id, "validation"): 4,
        }
    )
    choice = choose_final(state_of(members), genomes, train, evaluate, held_out=True)
    assert choice is not None
    # d is not a finalist; b and c tie on validation, b is better on training.
    assert evaluate.calls == [([a.id, b.id, c.id][:FINALISTS], "validation")]
    assert choice.winner.id == b.id and choice.chosen == b.id
    assert choice.fitness == train[b.id].score
    assert choice.validation == evaluation(b, 3).score
    assert [e.split for e in choice.evaluated] == ["validation"] * 3


def test_simplified_winner_is_kept_when_fitness_holds() -> None:
    best = genome({"op": "lower"}, {"op": "lower"}, dead=True)
    members = [Member(id=best.id, fitness=1.0, size=4)]
    train = {best.id: evaluation(best, 4)}
    table: dict[tuple[str, SplitName], int] = {}

    class Any4(Recorder):
        def __call__(self, genomes: Sequence[Genome], split: SplitName) -> dict[str, Evaluation]:
            self.calls.append(([g.id for g in genomes], split))
            return {g.id: evaluation(g, 4) for g in genomes}

    evaluate = Any4(table)
    choice = choose_final(state_of(members), {best.id: best}, train, evaluate, held_out=False)
    assert choice is not None
    assert choice.chosen == best.id and choice.winner.id != best.id
    assert [s["name"] for s in choice.winner.pipeline["steps"]] == ["out"]
    assert choice.winner.pipeline["steps"][0]["operations"] == [{"op": "lower"}]
    assert choice.winner.mutations[-1].operator == "simplify"
    assert choice.winner.parents == [best.id]
    assert evaluate.calls == [([choice.winner.id], "train")]
    assert choice.simplified and "dead" in choice.simplified


def test_simplified_winner_is_dropped_when_a_case_breaks() -> None:
    best = genome({"op": "lower"}, dead=True)
    members = [Member(id=best.id, fitness=1.0, size=3)]
    train = {best.id: evaluation(best, 4)}
    simplified_id: list[str] = []

    def evaluate(genomes: Sequence[Genome], split: SplitName) -> dict[str, Evaluation]:
        simplified_id.extend(g.id for g in genomes)
        return {g.id: evaluation(g, 3) for g in genomes}  # e.g. a check read the dead step

    choice = choose_final(state_of(members), {best.id: best}, train, evaluate, held_out=False)
    assert choice is not None and simplified_id
    assert choice.winner.id == best.id and choice.simplified is None
    assert choice.fitness == train[best.id].score
    assert [e.genome.id for e in choice.evaluated] == simplified_id


def test_nothing_to_simplify_costs_no_evaluation() -> None:
    best = genome({"op": "lower"})
    members = [Member(id=best.id, fitness=1.0, size=2)]

    def evaluate(genomes: Sequence[Genome], split: SplitName) -> dict[str, Evaluation]:
        raise AssertionError("no evaluation expected")

    choice = choose_final(
        state_of(members),
        {best.id: best},
        {best.id: evaluation(best, 4)},
        evaluate,
        held_out=False,
    )
    assert choice is not None and choice.winner.id == best.id and not choice.evaluated


def test_empty_archive_has_no_choice() -> None:
    assert choose_final(state_of([]), {}, {}, Recorder({}), held_out=True) is None
