"""How the scheduler hands work out: the ``Dispatcher`` interface, and a thread one.

The scheduler never imports Celery: the farm gives it a dispatcher that sends
tasks by name (:class:`evofarm.farm.dispatch.CeleryDispatcher`). The
:class:`ThreadDispatcher` here runs the same work functions on a local thread
pool against the same store, for tests and single-process use.

Contract: ``send_*`` returns a task id at once and the work completes
asynchronously, signalling on the campaign's event channel; sending the same
work twice is harmless (the work is idempotent).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from evofarm.campaign.bundle import CampaignCache
from evofarm.campaign.worker import batch, genesis, work
from evofarm.evolution.engine import BreedTask
from evofarm.store.base import PopulationStore

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Sends farm work; implementations must be usable from the scheduler thread."""

    def send_breed(self, task: BreedTask, task_id: str) -> None:
        """Send one breed/mutate task under ``task_id``."""
        ...

    def send_breed_batch(self, tasks: Sequence[BreedTask], task_id: str) -> None:
        """Send one task making the children of many non-LLM breed tasks of one campaign."""
        ...

    def send_evaluate(self, request: work.EvalRequest, task_id: str) -> None:
        """Send one evaluate task under ``task_id``."""
        ...

    def send_genesis(self, campaign: str, task_id: str) -> None:
        """Send the genesis task of a ``request:`` campaign under ``task_id``."""
        ...

    def revoke(self, task_ids: Collection[str]) -> None:
        """Revoke tasks: drop queued ones, kill running ones at once."""
        ...


def new_task_id() -> str:
    """A fresh task id."""
    return str(uuid.uuid4())


class ThreadDispatcher:
    """Runs breed/evaluate work on a thread pool in this process.

    Args:
        store: the store the work reads and writes.
        evaluator: how a genome is evaluated.
        workers: threads.
    """

    def __init__(
        self, store: PopulationStore, evaluator: work.GenomeEvaluator, workers: int = 4
    ) -> None:
        self.store = store
        self.evaluator = evaluator
        self.cache = CampaignCache()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evofarm-work")
        self._futures: dict[str, Future[object]] = {}
        self._lock = threading.Lock()
        self.sent = 0

    def _submit(self, task_id: str, campaign: str, what: str, fn: Callable[[], object]) -> None:
        def run() -> object:
            try:
                return fn()
            except Exception as exc:
                log.exception("%s failed", what)
                work.signal_failure(self.store, campaign, what, str(exc))
                raise
            finally:
                self.store.remove_inflight(campaign, [task_id])
                with self._lock:
                    self._futures.pop(task_id, None)

        with self._lock:
            self.sent += 1
            self._futures[task_id] = self._pool.submit(run)

    def send_breed(self, task: BreedTask, task_id: str) -> None:
        doc = task.model_dump(mode="json")
        self._submit(
            task_id,
            task.campaign,
            f"breed {task.generation}/{task.slot}",
            lambda: work.breed(self.store, self.cache, doc),
        )

    def send_breed_batch(self, tasks: Sequence[BreedTask], task_id: str) -> None:
        docs = [t.model_dump(mode="json") for t in tasks]
        self._submit(
            task_id,
            tasks[0].campaign,
            f"breed batch {tasks[0].generation}/{tasks[0].slot}+{len(tasks)}",
            lambda: batch.breed_batch(self.store, self.cache, docs),
        )

    def send_evaluate(self, request: work.EvalRequest, task_id: str) -> None:
        self._submit(
            task_id,
            request.campaign,
            f"evaluate {request.genome_id}",
            lambda: work.evaluate(self.store, self.cache, request, self.evaluator),
        )

    def send_genesis(self, campaign: str, task_id: str) -> None:
        self._submit(
            task_id, campaign, "genesis", lambda: genesis.genesis(self.store, self.cache, campaign)
        )

    def revoke(self, task_ids: Collection[str]) -> None:
        # Threads cannot be killed: queued work is cancelled, running work ends on its own.
        with self._lock:
            futures = [self._futures.get(t) for t in task_ids]
        for future in futures:
            if future is not None:
                future.cancel()

    def close(self) -> None:
        """Stop accepting work and wait for what runs."""
        self._pool.shutdown(wait=True, cancel_futures=True)
