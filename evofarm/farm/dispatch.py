"""The scheduler's dispatcher on Celery: tasks sent by name, revoked by id.

Breed tasks go to ``evofarm.breed`` (crossover) or ``evofarm.mutate``, genesis
to ``evofarm.genesis`` (breed queue); evaluate
tasks to ``evofarm.evaluate``; the app's routes put each on its queue. The
arguments are the small JSON the work functions take (ids and parameters).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from evofarm.campaign.worker.work import EvalRequest
from evofarm.errors import StoreUnreachable
from evofarm.evolution.engine import BreedTask
from evofarm.farm import names

log = logging.getLogger(__name__)


class CeleryDispatcher:
    """A :class:`~evofarm.campaign.scheduler.dispatcher.Dispatcher` over a Celery app.

    Thread-safe as far as the app's producer pool is (Celery's is).
    """

    def __init__(self, app: Celery) -> None:
        self.app = app

    def _send(self, name: str, args: list[Any], task_id: str) -> None:
        """Publish one task.

        Raises:
            StoreUnreachable: the broker could not be reached (the scheduler rides it out).
        """
        try:
            with self.app.producer_or_acquire() as producer:
                # ignore_result: completions come through the store; without it
                # Celery subscribes to the result backend, whose consumer gives up
                # for good after a short Redis outage.
                self.app.send_task(
                    name, args=args, task_id=task_id, producer=producer, ignore_result=True
                )
        except (OperationalError, redis.RedisError, OSError) as exc:
            raise StoreUnreachable(f"could not reach the broker to send {name}: {exc}") from exc

    def warm(self) -> None:
        """Connect to the broker and declare the farm's queues now, not at the first send.

        The first publish of a process otherwise pays both (and the result
        backend's loading) while the seed generation waits. Best effort: a broker that is
        not there yet is met again, and reported, by the first send.
        """
        try:
            # send_task wraps each id in an AsyncResult, which loads the result
            # backend (imports, entry points) on first use: ~0.1 s.
            _ = self.app.backend
            with self.app.producer_or_acquire() as producer:
                producer.connection.ensure_connection(max_retries=1)
                for queue in self.app.amqp.queues.values():
                    producer.maybe_declare(queue)
        except (OperationalError, redis.RedisError, OSError) as exc:
            log.info("broker not warmed: %s", exc)

    def send_breed(self, task: BreedTask, task_id: str) -> None:
        name = names.TASK_BREED if task.kind == "crossover" else names.TASK_MUTATE
        self._send(name, [task.model_dump(mode="json")], task_id)

    def send_breed_batch(self, tasks: Sequence[BreedTask], task_id: str) -> None:
        self._send(names.TASK_BREED_BATCH, [[t.model_dump(mode="json") for t in tasks]], task_id)

    def send_genesis(self, campaign: str, task_id: str) -> None:
        self._send(names.TASK_GENESIS, [campaign], task_id)

    def send_evaluate(self, request: EvalRequest, task_id: str) -> None:
        self._send(names.TASK_EVALUATE, request.to_args(), task_id)

    def revoke(self, task_ids: Collection[str]) -> None:
        """Revoke at once: queued tasks are dropped, running ones SIGKILLed (prefork).

        Raises:
            StoreUnreachable: the broker could not be reached.
        """
        if not task_ids:
            return
        try:
            self.app.control.revoke(list(task_ids), terminate=True, signal="SIGKILL")
        except (OperationalError, redis.RedisError, OSError) as exc:
            raise StoreUnreachable(f"could not reach the broker to revoke tasks: {exc}") from exc
