"""Shared set-ups for the scheduler tests: running a scheduler to its end or interrupted,
reading the state it checkpointed."""

from __future__ import annotations

from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Outcome, Scheduler, SchedulerOptions
from evofarm.evolution.engine import EvolutionState
from evofarm.store.memory import MemoryStore


def run_closing(
    store: MemoryStore, dispatcher: ThreadDispatcher, cid: str, options: SchedulerOptions
) -> tuple[Outcome, Scheduler]:
    """Run a scheduler for ``cid`` to its end on ``dispatcher``; the dispatcher is closed
    afterwards, whatever happened. Returns the outcome and the scheduler (its counts)."""
    scheduler = Scheduler(store, dispatcher, cid, options=options)
    try:
        return scheduler.run(), scheduler
    finally:
        dispatcher.close()


def run_interrupted(
    store: MemoryStore,
    dispatcher: ThreadDispatcher,
    cid: str,
    options: SchedulerOptions,
    generation: int = 2,
) -> Outcome:
    """Run a scheduler for ``cid`` that is cancelled as soon as ``generation`` is
    checkpointed (the checkpoint written first), as an interrupted service is; the
    dispatcher is closed and the store's ``save_checkpoint`` restored afterwards."""
    scheduler = Scheduler(store, dispatcher, cid, options=options)
    original = store.save_checkpoint

    def save_then_cancel(*args: object, **kwargs: object) -> bool:
        written = original(*args, **kwargs)  # type: ignore[arg-type]
        if args[1] == generation:
            scheduler.cancel()
        return written

    store.save_checkpoint = save_then_cancel  # type: ignore[method-assign]
    try:
        return scheduler.run()
    finally:
        dispatcher.close()
        store.save_checkpoint = original  # type: ignore[method-assign]


def checkpoint_state(store: MemoryStore, cid: str) -> EvolutionState:
    """The engine state of ``cid``'s checkpoint (which must exist)."""
    checkpoint = store.load_checkpoint(cid)
    assert checkpoint is not None
    return EvolutionState.model_validate(checkpoint.state)
