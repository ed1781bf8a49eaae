"""A campaign's two touch points with the collective memory: offer at start, mine at end.

:func:`offer` gives a campaign that opts in (``memory.use``) the remembered
winner fragments as part of its operators' material; :func:`contribute` mines
a finished campaign's winner into patterns and records its failed
evaluations in the museum (``memory.contribute``, default on). The in-process
loop calls both; the farm scheduler calls :func:`contribute` when a campaign
ends (:mod:`~evofarm.campaign.scheduler.memory_hook`). Offering on the farm
would put the offered material in the campaign bundle (not wired yet: the
farm's workers derive material from the bundle alone; ``submit`` refuses it).
"""

from __future__ import annotations

from collections.abc import Mapping

from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.genome import Genome
from evofarm.evolution.material import Material
from evofarm.evolution.memory import mine_patterns, offered_fragments
from evofarm.fitness.records import Evaluation
from evofarm.store.collective import CollectiveMemory


def offer(collective: CollectiveMemory | None, spec: CampaignSpec, material: Material) -> Material:
    """``material`` with the memory's fragments when the campaign opts in (else unchanged).

    Raises:
        StoreError: the memory's backend failed.
    """
    if collective is None or not spec.memory.use:
        return material
    fragments = offered_fragments(collective.patterns(), spec.memory.offer)
    return material.model_copy(update={"patterns": fragments}) if fragments else material


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
