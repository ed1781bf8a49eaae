"""A campaign's two touch points with the collective memory: offer at start, mine at end.

:func:`offered` reads, once, the remembered winner fragments a campaign that
opts in (``memory.use``) is given for its operators' material (each checked
as a user's pipeline would be, :func:`~evofarm.evolution.memory.fragment_problem`);
:func:`contribute` mines a finished campaign's winner into patterns and
records its failed evaluations in the museum (``memory.contribute``, default
on). The in-process loop calls both; on the farm, ``submit`` freezes the
offer into the campaign's bundle (so a resumed scheduler and every worker
use the same material, whatever the memory holds later) and the scheduler
calls :func:`contribute` when a campaign ends
(:mod:`~evofarm.campaign.scheduler.memory_hook`).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import JsonValue

from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.genome import Genome
from evofarm.evolution.material import Material
from evofarm.evolution.memory import mine_patterns, offered_fragments
from evofarm.fitness.records import Evaluation
from evofarm.store.base import PopulationStore
from evofarm.store.collective import CollectiveMemory, RedisCollective
from evofarm.store.redis import RedisStore

Offer = tuple[tuple[JsonValue, ...], ...]
"""The fragments offered to a campaign (each an operation list), best first."""


def collective_of(store: PopulationStore) -> CollectiveMemory | None:
    """The collective memory beside ``store`` (its Redis), or None for one-process stores."""
    return RedisCollective(store.client) if isinstance(store, RedisStore) else None


def offered(collective: CollectiveMemory | None, spec: CampaignSpec) -> Offer:
    """The fragments the campaign is offered: none unless it opts in and a memory is there.

    Raises:
        StoreError: the memory's backend failed.
    """
    if collective is None or not spec.memory.use:
        return ()
    return offered_fragments(collective.patterns(), spec.memory.offer)


def with_offer(material: Material, offer: Offer) -> Material:
    """``material`` carrying ``offer`` for feature insertion (unchanged when it is empty)."""
    return material.model_copy(update={"patterns": offer}) if offer else material


def offer(collective: CollectiveMemory | None, spec: CampaignSpec, material: Material) -> Material:
    """``material`` with the memory's fragments when the campaign opts in (else unchanged).

    Raises:
        StoreError: the memory's backend failed.
    """
    return with_offer(material, offered(collective, spec))


def contribute(
    collective: CollectiveMemory | None,
    spec: CampaignSpec,
    campaign: str,
    best: Genome | None,
    evaluations: Mapping[str, Evaluation],
) -> int:
    """Mine the winner and the failures into the memory; returns the new gallery entries.

    Raises:
        StoreError: the memory's backend failed.
    """
    if collective is None or not spec.memory.contribute:
        return 0
    for genome_id in sorted(evaluations):
        evaluation = evaluations[genome_id]
        if evaluation.outcome != "ok":
            collective.add_failure(
                evaluation.outcome, evaluation.reason, campaign=campaign, genome=genome_id
            )
    if best is None:
        return 0
    fitness = evaluations[best.id].score if best.id in evaluations else 0.0
    patterns = mine_patterns(best.pipeline, campaign=campaign, genome=best.id, fitness=fitness)
    return collective.add_patterns(patterns)
