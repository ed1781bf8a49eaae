"""One pool of case threads shared by every evaluation a worker process runs.

Each evaluation runs its cases ``case_concurrency`` at a time. On threads of
its own, an evaluation whose last case is slow holds its other threads idle
(under long-tailed LLM latency one thread often waits for the other), and so
does every slot of a task between its evaluation and the next. With the
shared pool (``EVOFARM_CASE_POOL=worker``, the default) a process running
``slots`` evaluate tasks at once keeps ``slots x case_concurrency`` case
threads, the same number of simultaneous waits; every evaluation queues its
cases on them, first in, first out, so a thread freed by one evaluation takes
the next evaluation's case at once, and a lone evaluation (the seed, the last
births) runs on all of them.

What an evaluation computes does not change: its case results come back in
case order (:func:`~evofarm.fitness.parallel.map_in_order`) and each case is
scored on its own. A task's wall time now includes the time its cases wait
for a thread behind earlier evaluations' cases (the per-case limits and
latencies do not: a case's clock starts when it runs).

Only evaluators that run their cases on threads of this process use it
(``in_process``, a ``package.module:factory`` that takes ``case_pool``); the
``sandbox`` evaluator runs each evaluation's cases in its own sandboxed child
and keeps its own concurrency.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Literal

CasePool = Literal["worker", "evaluation"]
"""``worker``: one pool per worker process; ``evaluation``: each evaluation its own threads."""

_pool: ThreadPoolExecutor | None = None
_threads = 0
_lock = threading.Lock()


def task_slots(pool_cls: object, concurrency: object) -> int:
    """How many tasks one process of a Celery worker runs at once.

    A prefork child or the solo pool runs one; a threads (or other in-process)
    pool runs ``concurrency`` (the CPU count when Celery resolves it itself).
    """
    name = str(getattr(pool_cls, "__module__", pool_cls))
    if "prefork" in name or "solo" in name:
        return 1
    if isinstance(concurrency, int) and concurrency > 0:
        return concurrency
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def shared(threads: int) -> Executor:
    """This process's case pool: made once, with ``threads`` threads (later sizes are ignored).

    Thread-safe. Its threads are made as work arrives and live as long as the
    process; they are named ``evofarm-case-<n>``.

    Raises:
        ValueError: ``threads`` is not positive.
    """
    global _pool, _threads  # noqa: PLW0603 - one pool per process, like the store client
    if threads < 1:
        raise ValueError(f"a case pool needs at least one thread, got {threads}")
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="evofarm-case")
            _threads = threads
        return _pool


def size() -> int | None:
    """The threads of this process's case pool (None: not made)."""
    with _lock:
        return _threads or None
