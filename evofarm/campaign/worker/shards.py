"""Split evaluations: one genome's cases spread over several evaluate tasks.

A lone evaluation (the seed generation, the final phase, the last births of a
campaign) would otherwise hold one worker slot while every other slot idles.
The scheduler may send it as ``shards`` tasks instead; shard ``i`` runs the
cases ``cases[i::shards]`` of the fidelity subset (in case-id order) with the
farm's ordinary evaluator, on a campaign whose suite holds only those cases.

Each shard's partial evaluation is kept (put-if-absent, task-result kind
:func:`shard_kind`, generation 0, slot = shard index). Whoever stores or finds
the last one merges them: the case results of every shard, in case-id order,
scored by :func:`~evofarm.fitness.records.aggregate` with the campaign's own
suite, fidelity and fitness, which is exactly the evaluation one task running
every case would have made (case results do not depend on which other cases
ran beside them). A shard that could not run the pipeline at all (invalid, a
refused budget) has no cases: the merged evaluation is that failure, under the
campaign's suite and fidelity, as the unsplit evaluation would have been.

Only an evaluator that scores each case on its own (its evaluation is the
aggregate of its case results: the farm's ``in_process`` and ``sandbox``
evaluators, the synthetic one) can be split; it says so with
:func:`splittable`. With any other evaluator shard 0 runs the whole
evaluation and the other shards do nothing, so the result never depends on
whether the scheduler split it.

Redelivery is harmless: a stored shard is not stored again, and two merges of
the same shards give the same evaluation, which is recorded once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from pydantic import ValidationError

from evofarm.campaign.bundle import Campaign
from evofarm.errors import StoreError
from evofarm.fitness.records import Evaluation, aggregate, invalid_evaluation
from evofarm.fitness.runner import select_cases
from evofarm.store.base import EvalKey, PopulationStore

#: Generation under which shard results are kept (the evaluation is generation-free).
SHARD_GENERATION = 0

_E = TypeVar("_E", bound=Callable[..., object])
_SPLITTABLE: weakref.WeakSet[Callable[..., object]] = weakref.WeakSet()


def splittable(evaluator: _E) -> _E:
    """Mark ``evaluator`` as scoring cases independently (its evaluations may be split)."""
    _SPLITTABLE.add(evaluator)
    return evaluator


def is_splittable(evaluator: Callable[..., object]) -> bool:
    """Whether ``evaluator`` was marked with :func:`splittable`."""
    return evaluator in _SPLITTABLE


def shard_count(cases: int, min_cases: int, width: int) -> int:
    """Shards for one evaluation of ``cases`` cases: at most ``width``, each >= ``min_cases``.

    1 (no split) when ``min_cases`` < 1, ``width`` <= 1 or there are too few cases.
    """
    if min_cases < 1 or width <= 1:
        return 1
    return max(1, min(width, cases // min_cases))


def shard_kind(key: EvalKey, shards: int) -> str:
    """The task-result kind holding the ``shards`` partial evaluations of ``key``."""
    return f"shard-{shards}-{key.genome_id}-{key.suite_id}-{key.fidelity}"


def shard_campaign(campaign: Campaign, shard: int, shards: int) -> Campaign:
    """``campaign`` narrowed to shard ``shard`` of ``shards``: its cases only, all of them.

    Raises:
        StoreError: the shard index is out of range (a malformed task).
    """
    if not 0 <= shard < shards:
        raise StoreError(f"shard {shard} of {shards} is out of range")
    cases = select_cases(campaign.suite, campaign.spec.fidelity)[shard::shards]
    suite = campaign.suite.model_copy(update={"cases": cases})
    spec = campaign.spec.model_copy(update={"fidelity": 1.0})
    return replace(campaign, suite=suite, spec=spec)


def merge(campaign: Campaign, genome_id: str, partials: list[Evaluation]) -> Evaluation:
    """The evaluation of the whole fidelity subset from its shards' partial evaluations."""
    suite, spec = campaign.suite, campaign.spec
    failed = next((p for p in partials if not p.cases), None)
    if failed is not None:
        return invalid_evaluation(
            suite_id=suite.id,
            fidelity=spec.fidelity,
            reason=failed.reason or failed.outcome,
            genome_id=genome_id,
            outcome=failed.outcome,
        )
    cases = sorted((c for p in partials for c in p.cases), key=lambda c: c.case_id)
    return aggregate(
        cases,
        suite_id=suite.id,
        budgets=suite.budgets,
        config=spec.fitness,
        fidelity=spec.fidelity,
        genome_id=genome_id,
    )


def keep_shard(
    store: PopulationStore,
    campaign: Campaign,
    key: EvalKey,
    partial: Evaluation,
    *,
    shard: int,
    shards: int,
) -> Evaluation | None:
    """Store one shard's partial evaluation; the merged evaluation once every shard is in.

    Returns:
        The merged evaluation, or None while other shards are still missing.

    Raises:
        StoreError: the store failed, or a stored shard does not decode.
    """
    kind = shard_kind(key, shards)
    store.put_task_result(
        campaign.id, SHARD_GENERATION, kind, shard, partial.model_dump(mode="json")
    )
    stored = store.task_results(campaign.id, SHARD_GENERATION, kind)
    if sorted(stored) != list(range(shards)):
        return None
    try:
        partials = [Evaluation.model_validate(stored[i]) for i in range(shards)]
    except ValidationError as exc:
        raise StoreError(f"campaign {campaign.id!r}: corrupt shard of {key}: {exc}") from exc
    return merge(campaign, key.genome_id, partials)
