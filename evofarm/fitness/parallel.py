"""Running one evaluation's cases at once, on threads of its own or on a shared pool.

:func:`map_in_order` is the one place an evaluation fans its cases out. Either
it makes a pool of ``max_workers`` threads for the call (the cases of this
evaluation only), or it queues the cases on ``pool``, an executor whose threads
also serve other evaluations (a farm worker's case pool,
:mod:`evofarm.campaign.worker.case_pool`). Either way the results come back in
the items' order, so a score never depends on which case finished first or on
what else the pool was running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")


def map_in_order(
    fn: Callable[[_T], _R],
    items: Sequence[_T],
    *,
    max_workers: int = 1,
    pool: Executor | None = None,
) -> list[_R]:
    """``[fn(x) for x in items]``, run concurrently, in the items' order.

    Args:
        fn: called once per item, on a pool thread (or here, when sequential).
        items: the work, in the order the results are returned.
        max_workers: threads of a pool made for this call (1: run here, in order).
        pool: a shared executor to queue every item on instead (``max_workers``
            is then ignored: the pool's size is the limit). Items run first in,
            first out with the other callers' work, and never on the caller's
            thread, so the pool's size bounds what runs at once.

    Raises:
        Whatever ``fn`` raised first in item order. On the shared pool the items
        not started yet are cancelled (they would only hold its threads); those
        running finish, unreported.
    """
    if pool is None:
        if max_workers <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as own:
            return list(own.map(fn, items))
    futures: list[Future[_R]] = [pool.submit(fn, x) for x in items]
    try:
        return [f.result() for f in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        raise
