"""The end of a campaign: choose the winner on held-out cases, then simplify it.

Selection only ever sees the training cases. When the search ends,
:func:`choose_final` takes the top :data:`FINALISTS` of the final archive,
evaluates them on the suite's held-out (validation) cases and picks the one
that generalises best: highest validation fitness, then training fitness, then
the smaller, then the earlier in the archive. Without a held-out suite the
winner is the archive's best, as before.

The winner is then simplified (:mod:`evofarm.evolution.simplify`). The
simplified pipeline is a genome like any other: it is evaluated the way the
campaign evaluates (on training, and on validation when there is a split) and
replaces the winner only if no fitness dropped and no case that passed fails.

Evaluation is a callback, so the in-process loop (its evaluator, in this
process) and the farm scheduler (evaluate tasks on the farm, in the sandbox,
never in the scheduler process) run the same decisions in the same order: for
the same seed both end with the same winner. Pure and deterministic given
deterministic evaluations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from evofarm.errors import UserInputError
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.genome import Genome, MutationRecord
from evofarm.evolution.selection.base import Member
from evofarm.evolution.simplify import simplify
from evofarm.fitness.records import Evaluation
from evofarm.pipeline.loader import pipeline_from_data
from evofarm.pipeline.validate import validate_pipeline

SplitName = Literal["train", "validation"]

#: How many of the final archive's best are evaluated on the held-out cases.
FINALISTS = 3

#: Fitness differences below this are equal (scores are sums of float terms).
_EPS = 1e-9

BatchEvaluator = Callable[[Sequence[Genome], SplitName], dict[str, Evaluation]]
"""Evaluates genomes on the training or the validation cases; returns evaluations by id.

Must return an evaluation for every genome given. May raise whatever the
driver's own evaluation raises (e.g. the scheduler's ``Ended``).
"""


@dataclass(frozen=True)
class Evaluated:
    """One evaluation the final phase made (a history row)."""

    genome: Genome
    split: SplitName
    evaluation: Evaluation


@dataclass(frozen=True)
class FinalChoice:
    """The campaign's winner and how it was chosen.

    Attributes:
        winner: the genome best.yaml holds (the simplified one if it was kept).
        chosen: the archive genome the winner was chosen as (before simplifying).
        fitness: the winner's training fitness.
        validation: its fitness on the held-out cases (None without a split).
        simplified: what simplification removed, if the simplified genome was kept.
        evaluated: the evaluations this phase made, in order.
    """

    winner: Genome
    chosen: str
    fitness: float
    validation: float | None
    simplified: str | None = None
    evaluated: list[Evaluated] = field(default_factory=list)


def finalists(state: EvolutionState, held_out: bool) -> list[Member]:
    """The archive members the final phase considers, best first."""
    return list(state.archive[: FINALISTS if held_out else 1])


def _no_worse(new: Evaluation, old: Evaluation) -> bool:
    """Whether ``new`` keeps ``old``'s fitness and every case ``old`` passed."""
    if new.score < old.score - _EPS:
        return False
    passed = {c.case_id for c in old.cases if c.total_checks and c.passed_checks == c.total_checks}
    kept = {c.case_id for c in new.cases if c.total_checks and c.passed_checks == c.total_checks}
    return passed <= kept


def _simplified_child(genome: Genome, generation: int) -> tuple[Genome, str] | None:
    """The simplified genome and what was removed, or None if nothing (valid) changed."""
    result = simplify(genome.pipeline)
    if not result.changed:
        return None
    try:
        pipeline = pipeline_from_data(result.data, f"<simplified {genome.id[:12]}>")
        validate_pipeline(pipeline)
    except UserInputError:
        return None
    mutation = MutationRecord(
        operator="simplify",
        before=f"{genome.traits.step_count} steps, {genome.traits.transform_ops} ops",
        rationale=result.describe(),
    )
    child = genome.child(pipeline, mutation, generation)
    if child.id == genome.id:
        return None
    return child, result.describe()


def choose_final(
    state: EvolutionState,
    genomes: Mapping[str, Genome],
    train: Mapping[str, Evaluation],
    evaluate: BatchEvaluator,
    *,
    held_out: bool,
) -> FinalChoice | None:
    """Choose and simplify the campaign's winner (see module docs).

    Args:
        state: the final engine state (its archive, best first).
        genomes: at least the finalists, by id.
        train: at least the finalists' training evaluations, by id.
        evaluate: runs evaluations the way the campaign does.
        held_out: whether the suite has validation cases.

    Returns:
        None when nothing was evaluated (empty archive).

    Raises:
        Whatever ``evaluate`` raises.
    """
    members = finalists(state, held_out)
    if not members:
        return None
    evaluated: list[Evaluated] = []
    validation: dict[str, Evaluation] = {}
    if held_out:
        validation = evaluate([genomes[m.id] for m in members], "validation")
        evaluated += [Evaluated(genomes[m.id], "validation", validation[m.id]) for m in members]
        order = {m.id: i for i, m in enumerate(members)}
        members = sorted(
            members,
            key=lambda m: (-validation[m.id].score, -m.fitness, m.size, order[m.id]),
        )
    best = genomes[members[0].id]
    choice = FinalChoice(
        winner=best,
        chosen=best.id,
        fitness=train[best.id].score,
        validation=validation[best.id].score if held_out else None,
        evaluated=evaluated,
    )
    made = _simplified_child(best, state.generation)
    if made is None:
        return choice
    child, removed = made
    child_train = evaluate([child], "train")[child.id]
    evaluated.append(Evaluated(child, "train", child_train))
    if not _no_worse(child_train, train[best.id]):
        return choice
    child_validation: Evaluation | None = None
    if held_out:
        child_validation = evaluate([child], "validation")[child.id]
        evaluated.append(Evaluated(child, "validation", child_validation))
        if not _no_worse(child_validation, validation[best.id]):
            return choice
    return FinalChoice(
        winner=child,
        chosen=best.id,
        fitness=child_train.score,
        validation=child_validation.score if child_validation is not None else None,
        simplified=removed,
        evaluated=evaluated,
    )
