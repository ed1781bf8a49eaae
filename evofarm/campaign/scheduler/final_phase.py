"""The final phase on the farm: the winner chosen on held-out cases, then simplified.

The choice itself is :mod:`evofarm.evolution.final_choice` (the same as the
in-process loop's); here its evaluations go out as ordinary evaluate tasks
(the finalists' validation evaluations on a tracker of the validation split,
the simplified winner's on the training tracker), its history rows are
written (marked ``split``) and the decision is kept in the campaign info
(:data:`~evofarm.campaign.reports.final.INFO_FINAL`), so a resumed scheduler
that finds it does not redo it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from evofarm.campaign.bundle import Campaign
from evofarm.campaign.lifecycle import Status
from evofarm.campaign.reports import final
from evofarm.campaign.scheduler.checkpoints import Checkpointer
from evofarm.campaign.scheduler.inflight import Pending, WorkTracker
from evofarm.campaign.scheduler.waiting import Waiter
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.final_choice import SplitName, choose_final, finalists
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.store.base import PopulationStore

Means = Callable[[dict[str, Evaluation], EvolutionState], dict[str, Evaluation]]
"""Resampled genomes' evaluations averaged over their samples (``evolution.noise``)."""


class FarmFinalPhase:
    """Runs a campaign's final phase with the scheduler's collaborators.

    Args:
        store: the population store.
        campaign: the decoded campaign.
        train: the training split's tracker and waiter (the scheduler's own).
        checkpoints: the scheduler's checkpointer (flushed first; told which
            genomes got training history rows).
        tracker_for, waiter_for: make the validation split's tracker and waiter.
        shards: tasks per evaluation when only that many evaluations share the farm.
        means: see :data:`Means`.
        release_wall: lets the wall-time budget pass (the phase finishes what a
            spent budget ended).
    """

    def __init__(
        self,
        store: PopulationStore,
        campaign: Campaign,
        train: tuple[WorkTracker, Waiter],
        checkpoints: Checkpointer,
        *,
        tracker_for: Callable[[Campaign], WorkTracker],
        waiter_for: Callable[[WorkTracker], Waiter],
        shards: Callable[[WorkTracker, int], int],
        means: Means,
        release_wall: Callable[[], None],
    ) -> None:
        self.store, self.campaign = store, campaign
        self.tracker, self.waiter = train
        self.checkpoints = checkpoints
        self._tracker_for, self._waiter_for = tracker_for, waiter_for
        self._shards, self._means, self._release_wall = shards, means, release_wall

    def run(self, state: EvolutionState, status: Status, reason: str) -> None:
        """Choose the winner on the held-out cases and simplify it, on the farm.

        Runs on the endings the in-process loop runs it on (completed, or a
        budget stop); done once per campaign (the decision is kept in the info).

        Raises:
            Ended: the campaign was killed or cancelled meanwhile.
        """
        campaign_id = self.campaign.id
        if not final.runs_final_phase(str(status), reason):
            return
        if final.decode(self.store.get_info(campaign_id, final.INFO_FINAL)) is not None:
            return
        self.checkpoints.flush()
        self._release_wall()
        held_out = self.campaign.held_out is not None
        trackers: dict[SplitName, WorkTracker] = {"train": self.tracker}
        waiters: dict[SplitName, Waiter] = {"train": self.waiter}
        if held_out:
            trackers["validation"] = self._tracker_for(self.campaign.for_split("validation"))
            waiters["validation"] = self._waiter_for(trackers["validation"])

        def evaluate(genomes: Sequence[Genome], split: SplitName) -> dict[str, Evaluation]:
            for genome in genomes:
                self.store.put_genome(campaign_id, genome.model_dump(mode="json"))
            ids = [g.id for g in genomes]
            pending = Pending()
            shards = self._shards(trackers[split], len(ids))
            trackers[split].send_evaluations(pending, ids, state.generation, shards=shards)
            waiters[split].wait(pending, state.generation, pipelined=True)
            found = trackers[split].evaluations(ids)
            return self._means(found, state) if split == "train" else found

        ids = [m.id for m in finalists(state, held_out)]
        choice = choose_final(
            state,
            self.tracker.genomes(ids),
            self._means(self.tracker.evaluations(ids), state),
            evaluate,
            held_out=held_out,
        )
        if choice is None:
            return
        recorded = {
            (str(row.get("genome")), str(row.get("split", "train")))
            for row in self.store.read_history(campaign_id)
        }
        rows = final.history_rows(campaign_id, state.generation, choice, time.time(), recorded)
        self.store.append_history(campaign_id, [r.model_dump(mode="json") for r in rows])
        # Its training rows are history too: the ending's sweep must not write them again.
        self.checkpoints.in_history.update(r.genome for r in rows if r.split == "train")
        self.store.update_info(
            campaign_id, {final.INFO_FINAL: final.encode(final.final_doc(choice))}
        )
