"""Run numbered jobs on a bounded set of threads, outcomes kept in input order.

:func:`run_bounded` is what ``for_loop`` with ``parallel: true`` runs its
iterations on. Its guarantees:

- at most ``max_workers`` jobs run at once (the calling thread is one of the
  workers, so progress never depends on being able to start a thread: under a
  sandbox's process limit it degrades to running the jobs itself);
- jobs are *started* in index order, so when job ``k`` has finished every job
  ``j < k`` has at least started;
- once a finished job's outcome satisfies ``stop``, no further job is started;
  the ones already running finish. Because of the start order, every job below
  the lowest stopping index has run, so "the first stopping job by index" is the
  same whatever order the threads finished in;
- outcomes come back as a list indexed like the input; a job that was never
  started is ``None``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one job gave: its value, or the exception it raised."""

    value: T | None = None
    error: BaseException | None = None


def run_bounded(
    count: int,
    job: Callable[[int], T],
    *,
    max_workers: int,
    stop: Callable[[Outcome[T]], bool],
    name: str = "evofarm-worker",
) -> list[Outcome[T] | None]:
    """Run ``job(0) .. job(count - 1)`` on at most ``max_workers`` threads.

    Args:
        count: Number of jobs.
        job: The work for one index; exceptions are captured in its outcome.
        max_workers: Upper bound on concurrently running jobs (>= 1).
        stop: Called on each outcome; true means start no further jobs.
        name: Thread name prefix (shows up in debuggers and thread dumps).

    Returns:
        One entry per index: the :class:`Outcome`, or None if never started.
    """
    outcomes: list[Outcome[T] | None] = [None] * count
    lock = threading.Lock()
    state = {"next": 0, "stopped": False}

    def take() -> int | None:
        with lock:
            if state["stopped"] or state["next"] >= count:
                return None
            index = state["next"]
            state["next"] = index + 1
            return index

    def worker() -> None:
        while (index := take()) is not None:
            try:
                outcome: Outcome[T] = Outcome(value=job(index))
            except BaseException as exc:  # reported to the caller through the outcome
                outcome = Outcome(error=exc)
            outcomes[index] = outcome
            if stop(outcome):
                with lock:
                    state["stopped"] = True

    threads: list[threading.Thread] = []
    for number in range(min(max_workers, count) - 1):
        thread = threading.Thread(target=worker, name=f"{name}-{number}", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            break  # no more threads (e.g. RLIMIT_NPROC): fewer workers, same results
        threads.append(thread)
    worker()
    for thread in threads:
        thread.join()
    return outcomes
