"""The raw-Celery peer of ``benchmarks/peers.py``: one task that waits like an evaluation.

Started by peers.py as ``celery -A peer_celery_app worker`` with the broker in
``PEERS_BROKER_URL``; not part of evofarm.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from celery import Celery

from evofarm.testing.synthetic_eval import case_latency

broker = os.environ.get("PEERS_BROKER_URL", "redis://localhost:6379/0")
app = Celery("peers", broker=broker, backend=broker)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                worker_prefetch_multiplier=1, task_acks_late=False)  # fmt: skip


def wait_cases(ident: str, cases: int, median_s: float, dist: str, concurrency: int) -> float:
    """Wait each case's simulated latency, ``concurrency`` cases at a time; a fitness."""

    def one(case: int) -> None:
        time.sleep(case_latency(ident, f"case-{case:02d}", median_s, dist))

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(cases)))
    return int(ident[:8], 16) / 2**32


@app.task(name="peers.evaluate")
def evaluate(ident: str, cases: int, median_s: float, dist: str, concurrency: int) -> float:
    """One simulated evaluation."""
    return wait_cases(ident, cases, median_s, dist, concurrency)
