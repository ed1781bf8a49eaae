"""The worker's side of the nursery: evaluate at a stage, running only the missing cases.

A campaign with ``evolution.nursery`` asks for evaluations at each stage's
fidelity and then at the campaign's own (:mod:`evofarm.campaign.scheduler.nursery`).
Stage subsets are nested (:func:`~evofarm.fitness.runner.select_cases`), so the
worker evaluating at fidelity ``f`` takes the highest-fidelity evaluation of the
genome already stored below ``f`` (a lower stage's, from this generation or an
earlier one), runs the configured evaluator on only the cases it lacks (a
suite of just those cases, at fidelity 1) and scores the union exactly as
:func:`~evofarm.fitness.runner.evaluate_pipeline` does with ``reuse``
(:func:`~evofarm.fitness.records.aggregate`). A case is never run twice for a
genome, and the evaluator needs no nursery support of its own.

The case runs reported are those the evaluator ran: the trusted count the
store adds to the campaign's ``case_runs`` counter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pydantic import ValidationError

from evofarm.campaign.bundle import Campaign, fidelity_key
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation, aggregate
from evofarm.fitness.runner import select_cases
from evofarm.store.base import EvalKey, PopulationStore

#: Runs one genome on the campaign's suite (the worker's configured evaluator).
Evaluate = Callable[[Campaign, Genome], Evaluation]


def stage_fidelities(campaign: Campaign) -> list[float]:
    """The campaign's nursery stage fidelities, lowest first (empty without a nursery)."""
    nursery = campaign.spec.evolution.nursery
    return [] if nursery is None else nursery.fidelities(campaign.spec.fidelity)


def nursery_fidelity(campaign: Campaign, suite_id: str, fidelity: str) -> float | None:
    """The fidelity of a request the nursery path serves, or None.

    That is a request on the campaign's training suite at a stage fidelity or
    at the campaign's own, for a campaign with a nursery.
    """
    if suite_id != campaign.suite_id:
        return None
    stages = stage_fidelities(campaign)
    if not stages:
        return None
    if fidelity == campaign.fidelity:
        return campaign.spec.fidelity
    for stage in stages:
        if fidelity_key(stage) == fidelity:
            return stage
    return None


def is_partial(campaign: Campaign, fidelity: str) -> bool:
    """Whether an evaluation at ``fidelity`` is a nursery stage's (not a full one)."""
    return fidelity != campaign.fidelity


def earlier_evaluation(
    store: PopulationStore, campaign: Campaign, genome_id: str, fidelity: float
) -> Evaluation | None:
    """The stored evaluation of ``genome_id`` at the highest stage fidelity below ``fidelity``.

    A stored document that does not decode is skipped (its cases are run again).

    Raises:
        StoreError: the store failed.
    """
    below = sorted((f for f in stage_fidelities(campaign) if f < fidelity), reverse=True)
    if not below:
        return None
    keys = [EvalKey(genome_id, campaign.suite_id, fidelity_key(f)) for f in below]
    for doc in store.get_evaluations(campaign.id, keys):
        if doc is None:
            continue
        try:
            return Evaluation.model_validate(doc)
        except ValidationError:
            continue
    return None


def evaluate_at(
    campaign: Campaign,
    genome: Genome,
    fidelity: float,
    earlier: Evaluation | None,
    evaluate: Evaluate,
) -> tuple[Evaluation, int]:
    """Evaluate ``genome`` at ``fidelity`` reusing ``earlier``'s cases; also the cases run.

    Returns:
        The evaluation (as ``evaluate_pipeline`` with ``reuse`` gives it) and
        how many cases ``evaluate`` ran.

    Raises:
        Whatever ``evaluate`` raises (infrastructure; candidate faults are scored).
    """
    suite = campaign.suite
    wanted = select_cases(suite, fidelity)
    done = {c.case_id: c for c in earlier.cases} if earlier is not None else {}
    missing = [c for c in wanted if c.id not in done]
    ran = 0
    if missing:
        only = suite.model_copy(update={"cases": missing})
        sub = evaluate(
            replace(
                campaign,
                spec=campaign.spec.model_copy(update={"fidelity": 1.0}),
                suite=only,
                suite_id=only.id,
                fidelity=fidelity_key(1.0),
            ),
            genome,
        )
        if not sub.cases:
            # Nothing ran (an invalid pipeline, a refused budget): that is the answer.
            return sub.model_copy(update={"suite_id": campaign.suite_id, "fidelity": fidelity}), 0
        ran = len(sub.cases)
        done.update((c.case_id, c) for c in sub.cases)
    evaluation = aggregate(
        [done[c.id] for c in wanted],
        suite_id=campaign.suite_id,
        budgets=suite.budgets,
        config=campaign.spec.fitness,
        fidelity=fidelity,
        genome_id=genome.id,
    )
    return evaluation, ran
