"""Driving the nursery in one process: stage by stage, each case run at most once.

:func:`run_nursery` takes a generation's new genome ids through the stages of
``evolution.nursery`` (:mod:`evofarm.evolution.nursery` decides who is
promoted) and returns the full evaluations of those that made it, the ids
culled on the way and how many case runs it cost. ``partials`` (genome id ->
its highest-fidelity partial evaluation) is updated in place and kept by the
caller for the whole campaign, so a culled genome bred again is not run again
on cases it already ran. :func:`nurse_birth` is steady state's: one birth at a
time, each stage's promotion decided by a caller's verdict.

Thread safety: none (one loop owns ``partials``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from evofarm.campaign.local.evaluator import StagedEvaluator
from evofarm.evolution.engine import member_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.nursery import NurseryConfig, culled, promoted
from evofarm.evolution.selection.base import Member
from evofarm.fitness.records import Evaluation
from evofarm.fitness.scoring import FitnessConfig


@dataclass
class NurseryOutcome:
    """What one generation's nursery produced.

    Attributes:
        full: Full evaluations of the promoted genomes, by id.
        culled: Ids stopped before full evaluation, sorted.
        case_runs: Cases actually run (reused case results not counted).
        stages: Cohort size entering each stage, then the number fully evaluated.
    """

    full: dict[str, Evaluation] = field(default_factory=dict)
    culled: list[str] = field(default_factory=list)
    case_runs: int = 0
    stages: list[int] = field(default_factory=list)


def new_case_runs(evaluation: Evaluation, earlier: Evaluation | None) -> int:
    """Cases in ``evaluation`` that ``earlier`` had not run."""
    before = {c.case_id for c in earlier.cases} if earlier is not None else set()
    return sum(1 for c in evaluation.cases if c.case_id not in before)


def run_nursery(
    ids: Sequence[str],
    genomes: Mapping[str, Genome],
    nursery: NurseryConfig,
    *,
    full_fidelity: float,
    fitness: FitnessConfig,
    evaluate: StagedEvaluator,
    partials: dict[str, Evaluation],
) -> NurseryOutcome:
    """Take ``ids`` through the nursery (see the module docs).

    Raises:
        Whatever ``evaluate`` raises (infrastructure errors; candidate faults
        are inside the evaluations).
    """
    outcome = NurseryOutcome()
    cohort = sorted(set(ids))
    for stage, fidelity in zip(nursery.stages, nursery.fidelities(full_fidelity), strict=True):
        outcome.stages.append(len(cohort))
        members = []
        for gid in cohort:
            earlier = partials.get(gid)
            evaluation = evaluate(genomes[gid], fidelity, earlier)
            outcome.case_runs += new_case_runs(evaluation, earlier)
            if earlier is None or evaluation.fidelity > earlier.fidelity:
                partials[gid] = evaluation
            members.append(member_of(genomes[gid], evaluation, fitness, genes=False))
        cohort = promoted(members, stage.promote)
    outcome.stages.append(len(cohort))
    for gid in sorted(cohort):
        earlier = partials.get(gid)
        evaluation = evaluate(genomes[gid], full_fidelity, earlier)
        outcome.case_runs += new_case_runs(evaluation, earlier)
        partials.pop(gid, None)
        outcome.full[gid] = evaluation
    outcome.culled = culled(ids, outcome.full)
    return outcome


#: Decides a birth's promotion from a stage (index) and its stage-scored member.
Verdict = Callable[[int, Member], bool]


def nurse_birth(
    genome: Genome,
    nursery: NurseryConfig,
    *,
    full_fidelity: float,
    fitness: FitnessConfig,
    evaluate: StagedEvaluator,
    partials: dict[str, Evaluation],
    verdict: Verdict,
) -> tuple[Evaluation | None, int]:
    """Take one steady-state birth through the stages (:mod:`~evofarm.evolution.steady_nursery`).

    Args:
        verdict: Whether the stage result promotes the birth (it records the
            result in the stage's window).

    Returns:
        ``(full evaluation or None if culled, case runs)``; ``partials`` as
        :func:`run_nursery` keeps it.
    """
    case_runs = 0
    for stage, fidelity in enumerate(nursery.fidelities(full_fidelity)):
        earlier = partials.get(genome.id)
        evaluation = evaluate(genome, fidelity, earlier)
        case_runs += new_case_runs(evaluation, earlier)
        if earlier is None or evaluation.fidelity > earlier.fidelity:
            partials[genome.id] = evaluation
        if not verdict(stage, member_of(genome, evaluation, fitness, genes=False)):
            return None, case_runs
    earlier = partials.pop(genome.id, None)
    evaluation = evaluate(genome, full_fidelity, earlier)
    return evaluation, case_runs + new_case_runs(evaluation, earlier)
