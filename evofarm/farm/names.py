"""Queue and task names of the farm: the contract between scheduler and workers.

The scheduler sends tasks by these names (it never imports the worker code), so
workers on other machines need only agree on this module.
"""

from __future__ import annotations

from typing import Final

QUEUE_BREED: Final = "breed"
QUEUE_MUTATE: Final = "mutate"
QUEUE_EVALUATE: Final = "evaluate"
QUEUES: Final = (QUEUE_BREED, QUEUE_MUTATE, QUEUE_EVALUATE)

TASK_BREED: Final = "evofarm.breed"
TASK_MUTATE: Final = "evofarm.mutate"
TASK_EVALUATE: Final = "evofarm.evaluate"
#: Many non-LLM children of one campaign in one task (:mod:`evofarm.campaign.worker.batch`).
TASK_BREED_BATCH: Final = "evofarm.breed_batch"
#: A ``request:`` campaign's genesis, once, before generation 0
#: (:mod:`evofarm.campaign.worker.genesis`).
TASK_GENESIS: Final = "evofarm.genesis"
#: A no-op round trip: health checks and queue-overhead measurements.
TASK_PING: Final = "evofarm.ping"

#: Task name -> queue it is routed to.
ROUTES: Final[dict[str, str]] = {
    TASK_BREED: QUEUE_BREED,
    TASK_BREED_BATCH: QUEUE_BREED,
    TASK_GENESIS: QUEUE_BREED,
    TASK_MUTATE: QUEUE_MUTATE,
    TASK_EVALUATE: QUEUE_EVALUATE,
}
