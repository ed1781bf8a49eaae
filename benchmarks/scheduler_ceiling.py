"""Scheduler ceiling: how many results per second one scheduler and one Redis sustain.

Evaluations return at once (the synthetic evaluator with no latency), so the
farm is bound by the scheduler and the store alone. The scheduler runs the real
driver (generational and steady) against a private redis-server; its work runs
on a thread pool in this process against the same Redis through its own
connections (:class:`~evofarm.campaign.scheduler.dispatcher.ThreadDispatcher`:
the workers' store calls without Celery), with ``--threads`` threads; 1,000
threads stand in for 1,000 worker slots. Celery publishing, which that
dispatcher skips, is measured on its own (``--publish`` evaluate tasks sent to
the same Redis as broker, no worker consuming).

Where the time goes, per result (a result is one evaluation or one child bred):

* ``scheduler_cpu_ms``: CPU of the scheduler's thread (``time.thread_time``);
* ``scheduler_store_calls`` and ``scheduler_store_ms``: the scheduler's store
  calls (each one Redis round trip or one pipeline) and the wall time in them;
  ``scheduler_event_waits`` / ``scheduler_idle_ms``: its blocking waits for
  completion events (BLPOP) and the time it sat in them;
* ``redis_cpu_ms`` and ``redis_commands``: the server's CPU and commands
  (workers' included);
* ``publish_ms`` / ``publish_cpu_ms``: one Celery publish (wall / CPU), per task.

``ceiling`` turns these into evaluations per second each part sustains alone
(scheduler: its CPU plus one publish per evaluation; Redis: its CPU) and
``feedable_slots``: the worker slots (workers x concurrency) one farm keeps
busy at the ceiling when an evaluation task takes ``cases x latency / case
concurrency`` seconds. On a machine with few cores the pool threads share the
scheduler's cores (and its GIL), so the measured rates are lower bounds.

Usage::

    python benchmarks/scheduler_ceiling.py [--population 128] [--generations 6] \\
        [--threads 16,1000] [--publish 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evofarm.campaign import control
from evofarm.campaign.bundle import Campaign
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.campaign.worker.work import EvalRequest
from evofarm.evolution.genome import Genome
from evofarm.farm.app import make_celery_app
from evofarm.farm.dispatch import CeleryDispatcher
from evofarm.farm.redis_server import RedisServer
from evofarm.fitness.records import Evaluation
from evofarm.settings import Settings
from evofarm.store.redis import RedisStore
from evofarm.testing import synthetic_eval

DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "campaigns" / "demo.yaml"


#: Blocking waits for events: idle time, not round-trip cost (counted apart).
WAITS = frozenset({"wait_event"})


class CountingStore:
    """A store proxy counting the calls made through it and the wall time in them."""

    def __init__(self, inner: RedisStore) -> None:
        self._inner = inner
        self.calls = 0
        self.seconds = 0.0
        self.waits = 0
        self.wait_seconds = 0.0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                with self._lock:
                    if name in WAITS:
                        self.waits += 1
                        self.wait_seconds += elapsed
                    else:
                        self.calls += 1
                        self.seconds += elapsed

        return counted


def campaign(population: int, generations: int, mode: str) -> CampaignSpec:
    """The demo campaign at this size, one case per evaluation, no budgets, no early stop."""
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={
            "population": population,
            "offspring": population,
            "generations": generations,
            "target_fitness": None,
            "mode": mode,
        }
    )
    budgets = spec.budgets.model_copy(update={"max_evaluations": None, "max_wall_s": None})
    return spec.model_copy(update={"evolution": evolution, "budgets": budgets})


def instant(campaign: Campaign, genome: Genome) -> Evaluation:
    """The synthetic evaluation, with no latency."""
    return synthetic_eval.evaluate(genome, campaign.spec, campaign.suite)


def redis_counters(store: RedisStore) -> tuple[float, int]:
    """The server's CPU seconds and commands processed so far."""
    cpu = store.client.info("cpu")
    stats = store.client.info("stats")
    return (
        float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        int(stats["total_commands_processed"]),
    )


def run_campaign(url: str, args: argparse.Namespace, mode: str, threads: int) -> dict[str, Any]:
    """One campaign with instant evaluations; its rates and where the time went."""
    scheduler_store = CountingStore(RedisStore.from_url(url))
    work_store = RedisStore.from_url(url)
    spec = campaign(args.population, args.generations, mode)
    cid = control.submit(work_store, spec, seed=args.seed)
    dispatcher = ThreadDispatcher(work_store, instant, workers=threads)
    scheduler = Scheduler(
        scheduler_store,  # type: ignore[arg-type]
        dispatcher,
        cid,
        options=SchedulerOptions(wait_s=0.5),
    )
    redis_before = redis_counters(work_store)
    cpu_before = time.thread_time()
    started = time.perf_counter()
    outcome = scheduler.run()
    wall_s = time.perf_counter() - started
    cpu_s = time.thread_time() - cpu_before
    redis_after = redis_counters(work_store)
    dispatcher.close()
    evaluations = work_store.counters(cid).get("evaluations", 0)
    checkpoint = work_store.load_checkpoint(cid)
    children = checkpoint.state["counters"]["tasks"] if checkpoint else 0
    results = evaluations + children
    work_store.delete_campaign(cid)
    per = 1000 / max(1, results)
    return {
        "mode": mode,
        "threads": threads,
        "status": outcome.status,
        "evaluations": evaluations,
        "children": children,
        "wall_s": round(wall_s, 3),
        "results_per_s": round(results / wall_s, 1),
        "evaluations_per_s": round(evaluations / wall_s, 1),
        "per_result": {
            "scheduler_cpu_ms": round(cpu_s * per, 4),
            "scheduler_store_calls": round(scheduler_store.calls / max(1, results), 3),
            "scheduler_store_ms": round(scheduler_store.seconds * per, 4),
            "scheduler_event_waits": round(scheduler_store.waits / max(1, results), 3),
            "scheduler_idle_ms": round(scheduler_store.wait_seconds * per, 4),
            "redis_cpu_ms": round((redis_after[0] - redis_before[0]) * per, 4),
            "redis_commands": round((redis_after[1] - redis_before[1]) / max(1, results), 2),
        },
        "_per_evaluation_s": {
            "scheduler_cpu": cpu_s / max(1, evaluations),
            "redis_cpu": (redis_after[0] - redis_before[0]) / max(1, evaluations),
        },
    }


def measure_publish(url: str, count: int) -> dict[str, float]:
    """Wall and CPU per Celery publish of an evaluate task (nothing consumes them)."""
    app = make_celery_app(Settings(broker_url=url, redis_url=url))
    dispatcher = CeleryDispatcher(app)
    request = EvalRequest("bench", "g" * 64, "suite", "1.0", 1)
    send: Callable[[], None] = lambda: dispatcher.send_evaluate(request, str(uuid.uuid4()))  # noqa: E731
    send()  # connect first
    cpu_before, started = time.thread_time(), time.perf_counter()
    for _ in range(count):
        send()
    wall_s, cpu_s = time.perf_counter() - started, time.thread_time() - cpu_before
    app.control.purge()
    app.close()
    return {
        "tasks": count,
        "publish_ms": round(wall_s / count * 1000, 4),
        "publish_cpu_ms": round(cpu_s / count * 1000, 4),
        "publishes_per_s": round(count / wall_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=128)
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--threads", default="16,1000", help="comma-separated pool sizes")
    parser.add_argument("--publish", type=int, default=2000, help="Celery publishes to time")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    pools = [int(t) for t in args.threads.split(",") if t]
    with tempfile.TemporaryDirectory(prefix="evofarm-ceiling-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            runs = [
                run_campaign(server.url, args, mode, threads)
                for threads in pools
                for mode in ("generational", "steady")
            ]
            publish = measure_publish(server.celery_url, args.publish)
        finally:
            server.stop()
    # The ceiling from the run with the most threads (the most concurrency to feed).
    widest = [r for r in runs if r["threads"] == max(pools)]
    ceiling: dict[str, Any] = {}
    for run in widest:
        per = run.pop("_per_evaluation_s")
        scheduler_s = per["scheduler_cpu"] + publish["publish_cpu_ms"] / 1000
        ceiling[run["mode"]] = {
            "scheduler_bound_evaluations_per_s": round(1 / scheduler_s, 1),
            "redis_bound_evaluations_per_s": round(1 / max(per["redis_cpu"], 1e-9), 1),
        }
    for run in runs:
        run.pop("_per_evaluation_s", None)
    feedable: dict[str, dict[str, int]] = {}
    for mode, figures in ceiling.items():
        rate = min(figures.values())
        feedable[mode] = {
            f"{task_s:g}s_per_evaluation": int(rate * task_s) for task_s in (0.5, 1.2, 5.0, 30.0)
        }
    print(
        json.dumps(
            {
                "benchmark": "scheduler_ceiling",
                "runs": runs,
                "celery_publish": publish,
                "ceiling": ceiling,
                "feedable_slots": feedable,
                "params": {
                    "population": args.population,
                    "generations": args.generations,
                    "threads": pools,
                    "cpus": len(os.sched_getaffinity(0)),
                    "python": sys.version.split()[0],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
