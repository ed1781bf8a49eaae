"""Generation checkpoints on the farm, and the info fields watchers read.

A generation's checkpoint (its state plus its fitness-history rows, one atomic
store write) is deferred until the next generation's first tasks are out, so
workers never wait on it. A crash before the write only means re-planning that
generation from its stored results, as planning is deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from evofarm.campaign.reports.outputs import HistoryRow
from evofarm.evolution.engine import EvolutionState
from evofarm.fitness.records import Evaluation
from evofarm.store.base import PopulationStore

#: Info fields the scheduler keeps up to date for watchers.
INFO_GENERATION = "generation"
INFO_BEST = "best_fitness"
INFO_WALL = "wall_s"
INFO_SCHEDULER = "scheduler"
#: Per-generation result kind holding the generation's wall time (for reports).
TIMING = "timing"


@dataclass(frozen=True)
class _Deferred:
    state: EvolutionState
    new_ids: list[str]
    evaluations: dict[str, Evaluation]
    elapsed_s: float
    case_runs: int | None


class Checkpointer:
    """Writes one campaign's checkpoints, history rows and progress info.

    Args:
        store: the population store.
        campaign: the campaign id.
        wall_s: the campaign's wall time so far (all runs), for the info field.
        in_history: genomes already in the fitness history; updated on every write.
        on_checkpoint: called with the generation after each checkpoint is written
            (the anomaly hook); it must not raise.
    """

    def __init__(
        self,
        store: PopulationStore,
        campaign: str,
        wall_s: Callable[[], float],
        in_history: set[str],
        on_checkpoint: Callable[[int], None] | None = None,
    ) -> None:
        self.on_checkpoint = on_checkpoint
        self.store = store
        self.campaign = campaign
        self.wall_s = wall_s
        self.in_history = in_history
        self._deferred: _Deferred | None = None

    def write(
        self, state: EvolutionState, new_ids: list[str], evaluations: dict[str, Evaluation]
    ) -> None:
        """Checkpoint ``state`` with one history row per genome of ``new_ids``, now.

        ``evaluations`` must hold every id of ``new_ids``.
        """
        now = time.time()
        rows = [
            HistoryRow.of(self.campaign, state.generation, gid, evaluations[gid], now)
            for gid in sorted(new_ids)
        ]
        self.store.save_checkpoint(
            self.campaign,
            state.generation,
            state.model_dump(mode="json"),
            history=[r.model_dump(mode="json") for r in rows],
        )
        self.in_history.update(new_ids)
        best = state.best
        self.store.update_info(
            self.campaign,
            {
                INFO_GENERATION: str(state.generation),
                INFO_BEST: repr(best.fitness) if best else "",
                INFO_WALL: repr(self.wall_s()),
            },
        )
        if self.on_checkpoint is not None:
            self.on_checkpoint(state.generation)

    def defer(
        self,
        state: EvolutionState,
        new_ids: list[str],
        evaluations: dict[str, Evaluation],
        elapsed_s: float,
        case_runs: int | None = None,
    ) -> None:
        """Keep a generation's checkpoint (and its timing) for :meth:`flush`.

        ``case_runs``, the campaign's case runs once the generation was
        evaluated, is kept with the timing when given (reports of how many case
        runs reaching a fitness took). An earlier deferred checkpoint still
        unwritten is written first, so its history rows are never dropped.
        """
        self.flush()
        self._deferred = _Deferred(state, new_ids, evaluations, elapsed_s, case_runs)

    def flush(self) -> None:
        """Write the deferred checkpoint, if any, with its generation's timing."""
        deferred = self._deferred
        if deferred is None:
            return
        timing: dict[str, float | int] = {"elapsed_s": deferred.elapsed_s}
        if deferred.case_runs is not None:
            timing["case_runs"] = deferred.case_runs
        self.store.put_task_result(self.campaign, deferred.state.generation, TIMING, 0, timing)
        self.write(deferred.state, deferred.new_ids, deferred.evaluations)
        self._deferred = None
