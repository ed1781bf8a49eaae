"""map_in_order: one evaluation's cases on threads of its own or on a shared pool, in order."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from evofarm.fitness.parallel import map_in_order


def _slow_square(x: int) -> int:
    time.sleep(0.002 * (5 - x % 5))  # later items finish first
    return x * x


@pytest.mark.parametrize("max_workers", [1, 3, 16])
def test_results_come_back_in_item_order(max_workers: int) -> None:
    assert map_in_order(_slow_square, list(range(12)), max_workers=max_workers) == [
        x * x for x in range(12)
    ]


def test_a_shared_pool_runs_every_item_on_its_threads_in_order() -> None:
    caller = threading.current_thread().name
    seen: list[str] = []

    def where(x: int) -> int:
        seen.append(threading.current_thread().name)
        return _slow_square(x)

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="shared") as pool:
        # One item too: never run on the caller's thread, so the pool bounds the waits.
        assert map_in_order(where, [3], pool=pool) == [9]
        assert map_in_order(where, list(range(10)), max_workers=1, pool=pool) == [
            x * x for x in range(10)
        ]
    assert len(seen) == 11 and caller not in seen
    assert all(name.startswith("shared") for name in seen)


def test_two_callers_share_the_pool_and_each_gets_its_own_results() -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        out: dict[int, list[int]] = {}

        def caller(k: int) -> None:
            out[k] = map_in_order(lambda x: _slow_square(x + k), list(range(8)), pool=pool)

        threads = [threading.Thread(target=caller, args=(k,)) for k in (0, 100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert out == {k: [(x + k) ** 2 for x in range(8)] for k in (0, 100)}


def test_the_first_failure_in_order_is_raised_and_the_rest_cancelled() -> None:
    started: list[int] = []
    gate = threading.Event()

    def run(x: int) -> int:
        started.append(x)
        if x == 0:
            gate.wait(5)
            raise RuntimeError("case 0")
        if x == 1:
            raise ValueError("case 1")  # finishes first, but case 0 comes first in order
        time.sleep(0.01)
        return x

    with ThreadPoolExecutor(max_workers=2) as pool:
        timer = threading.Timer(0.05, gate.set)
        timer.start()
        with pytest.raises(RuntimeError, match="case 0"):
            map_in_order(run, list(range(40)), pool=pool)
        timer.join()
    # Two threads: while case 0 waited, the other ran a few; the queued rest were cancelled.
    assert 0 in started and len(started) < 40
