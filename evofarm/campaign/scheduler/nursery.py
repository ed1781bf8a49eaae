"""The nursery on the farm: a generation's new children evaluated stage by stage.

The farm twin of :func:`evofarm.campaign.local.nursery.run_nursery`, with the
same decisions (:mod:`evofarm.evolution.nursery`): the whole cohort is sent as
ordinary evaluate tasks at stage 1's fidelity; once all are stored, the best
``promote`` share (ranked by :func:`~evofarm.evolution.nursery.promoted`, ties by
id, so independent of finishing order) is sent at stage 2's, and so on; those
promoted from the last stage are sent at the campaign's fidelity and enter
selection. The rest are culled: no full evaluation, no history row.

Each stage has its own :class:`~evofarm.campaign.scheduler.inflight.WorkTracker`
(evaluations are keyed by fidelity), sharing the scheduler's in-flight ids.
Workers run only the cases a genome's stored lower-stage evaluation lacks
(:mod:`evofarm.campaign.worker.staged`) and count the case runs.

Resume: nothing lives here between calls. A restarted scheduler re-plans the
generation, re-sends the cohort at stage 1 (trackers skip evaluations already
stored), recomputes the same promotions from the stored evaluations and so
re-sends only what is missing.

Thread safety: none (one scheduler thread drives it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from evofarm.campaign.bundle import Campaign, fidelity_key
from evofarm.campaign.scheduler.inflight import Pending, WorkTracker
from evofarm.campaign.scheduler.waiting import Waiter
from evofarm.evolution.engine import member_of
from evofarm.evolution.nursery import NurseryConfig, culled, promoted
from evofarm.fitness.records import Evaluation

#: Builds the waiter of a tracker (the driver's lease, liveness checks and timings).
WaiterFor = Callable[[WorkTracker], Waiter]
#: Builds the tracker of a campaign at a stage's fidelity.
TrackerFor = Callable[[Campaign], WorkTracker]


@dataclass
class NurseryResult:
    """What one generation's nursery produced on the farm.

    Attributes:
        full: Full evaluations of the promoted genomes, by id.
        culled: Ids stopped before full evaluation, sorted.
        stages: Cohort size entering each stage, then the number fully evaluated.
    """

    full: dict[str, Evaluation] = field(default_factory=dict)
    culled: list[str] = field(default_factory=list)
    stages: list[int] = field(default_factory=list)


class FarmNursery:
    """Runs ``campaign``'s nursery generation after generation.

    Args:
        campaign: A campaign with ``evolution.nursery``.
        full: The tracker (and its waiter) of the campaign's own fidelity.
        tracker_for: Builds a stage's tracker (called once per stage).
        waiter_for: Builds a tracker's waiter.

    Raises:
        ValueError: ``campaign`` has no nursery.
    """

    def __init__(
        self,
        campaign: Campaign,
        full: tuple[WorkTracker, Waiter],
        tracker_for: TrackerFor,
        waiter_for: WaiterFor,
    ) -> None:
        nursery = campaign.spec.evolution.nursery
        if nursery is None:
            raise ValueError(f"campaign {campaign.id!r} has no nursery")
        self.campaign = campaign
        self.nursery: NurseryConfig = nursery
        self.full = full
        self.stages: list[tuple[WorkTracker, Waiter]] = []
        for fidelity in nursery.fidelities(campaign.spec.fidelity):
            tracker = tracker_for(replace(campaign, fidelity=fidelity_key(fidelity)))
            self.stages.append((tracker, waiter_for(tracker)))

    def run(self, ids: Sequence[str], generation: int) -> NurseryResult:
        """Take the generation's new genome ids through the stages (see the module docs).

        ``ids`` must be the generation's whole cohort (every new child, also
        those a previous scheduler already evaluated): promotion ranks it.

        Raises:
            Ended: the campaign ended (killed, failed, cancelled) meanwhile.
            LeaseLost: another scheduler took the campaign over.
            StoreError: the store failed or lacks a genome.
        """
        result = NurseryResult()
        cohort = sorted(set(ids))
        fitness = self.campaign.spec.fitness
        genomes = self.full[0].genomes(cohort)
        for stage, (tracker, waiter) in zip(self.nursery.stages, self.stages, strict=True):
            result.stages.append(len(cohort))
            evaluations = _evaluate(tracker, waiter, cohort, generation)
            tracker.clear_caches()
            members = [member_of(genomes[g], evaluations[g], fitness, genes=False) for g in cohort]
            cohort = promoted(members, stage.promote)
        result.stages.append(len(cohort))
        result.full = _evaluate(*self.full, sorted(cohort), generation)
        result.culled = culled(ids, result.full)
        return result


def _evaluate(
    tracker: WorkTracker, waiter: Waiter, ids: list[str], generation: int
) -> dict[str, Evaluation]:
    """Send the evaluations of ``ids`` not stored yet, wait for them, return all of them."""
    pending = Pending()
    tracker.send_evaluations(pending, ids, generation)
    waiter.wait(pending, generation, pipelined=False)
    return tracker.evaluations(ids)
