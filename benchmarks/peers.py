"""evofarm against what a user would pick instead, on the same simulated-LLM workload.

Workload (the issue's): population 64, 4 generations, 24 cases per
evaluation of simulated LLM latency (``--latency uniform``: every call waits
``--latency-ms``; ``lognormal``: median ``--latency-ms``, p99/p50 = 10, draws
keyed by genome and case), 32 waits at once (16 evaluations x 2 cases).

* **DEAP**: ``eaMuPlusLambda`` (mu = lambda = 64) with a thread-pool ``map``
  of 16 evaluations, each waiting its cases on 2 threads;
* **raw Celery**: a driver that per generation sends a ``group`` of evaluate
  tasks to one threads worker (concurrency 16) and waits for all of them (the
  barrier), then keeps the best 64 (plus selection);
* **evofarm**: the farm (embedded Redis, 2 worker processes x 8 threads, 2
  cases at a time per evaluation), the synthetic evaluator, in ``--mode
  generational`` (default) or ``steady`` (no barrier); ``--case-pool
  worker,evaluation`` runs one farm per ``EVOFARM_CASE_POOL`` setting (the
  worker's 16 case threads shared by its evaluations, or 2 per evaluation),
  each interleaved with the peers (runs ``evofarm`` and ``evofarm:<setting>``).

The three run interleaved (``--rounds`` rounds of evofarm, DEAP, Celery).
Efficiency = ideal time (the sum of every evaluated case's wait / 32) over the
measured wall time, so runs evaluating different numbers of genomes compare.
Prints one JSON object with each run, each one's mean efficiency and the
ratios evofarm/peer. Usage::

    python benchmarks/peers.py [--latency uniform|lognormal] [--rounds 1] \
        [--mode generational|steady] [--timeline] [--case-pool worker[,evaluation]]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

from celery import Celery, group
from deap import algorithms, base, creator, tools

from evofarm.campaign import control
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.campaign.worker.work import EvalRequest
from evofarm.farm.dispatch import CeleryDispatcher
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.redis_server import RedisServer
from evofarm.farm.session import Farm, connect_farm
from evofarm.fitness.runner import select_cases
from evofarm.store.base import PopulationStore
from evofarm.testing.synthetic_eval import LATENCY_DIST_ENV, case_latency

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_celery_app import app, evaluate  # a sibling script, not a package

HERE = Path(__file__).resolve().parent
CASE_POOL_ENV = "EVOFARM_CASE_POOL"
DEMO = HERE.parent / "pipelines" / "campaigns" / "demo.yaml"
POPULATION, GENERATIONS, CASES, CASE_CONCURRENCY, EVALS_AT_ONCE = 64, 4, 24, 2, 16
SLOTS = CASE_CONCURRENCY * EVALS_AT_ONCE


def _ident(values: Any) -> str:
    return hashlib.sha256(repr(values).encode()).hexdigest()


def _ideal(idents: list[str], case_ids: list[str], median_s: float, dist: str) -> float:
    return sum(case_latency(i, c, median_s, dist) for i in idents for c in case_ids) / SLOTS


def run_deap(median_s: float, dist: str, seed: int) -> dict[str, Any]:
    """eaMuPlusLambda with a thread-pool map; returns wall, ideal and evaluations."""
    if not hasattr(creator, "PeerFitness"):
        creator.create("PeerFitness", base.Fitness, weights=(1.0,))
        creator.create("PeerIndividual", list, fitness=creator.PeerFitness)
    rng = random.Random(seed)
    random.seed(seed)
    evaluated: list[str] = []
    case_ids = [f"case-{c:02d}" for c in range(CASES)]

    def evaluate(individual: list[float]) -> tuple[float]:
        ident = _ident(tuple(individual))
        evaluated.append(ident)

        def one(case: str) -> None:
            time.sleep(case_latency(ident, case, median_s, dist))

        with ThreadPoolExecutor(max_workers=CASE_CONCURRENCY) as inner:
            list(inner.map(one, case_ids))
        return (sum(individual),)

    toolbox = base.Toolbox()
    toolbox.register("attr", rng.random)
    toolbox.register("individual", tools.initRepeat, creator.PeerIndividual, toolbox.attr, 8)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("evaluate", evaluate)
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("mutate", tools.mutGaussian, mu=0, sigma=0.2, indpb=0.3)
    toolbox.register("select", tools.selTournament, tournsize=3)
    with ThreadPoolExecutor(max_workers=EVALS_AT_ONCE) as pool:
        toolbox.register("map", pool.map)
        population = toolbox.population(n=POPULATION)
        started = time.perf_counter()
        algorithms.eaMuPlusLambda(population, toolbox, mu=POPULATION, lambda_=POPULATION,
                                  cxpb=0.3, mutpb=0.7, ngen=GENERATIONS, verbose=False)  # fmt: skip
        wall = time.perf_counter() - started
    return {"wall_s": wall, "ideal_s": _ideal(evaluated, case_ids, median_s, dist),
            "evaluations": len(evaluated)}  # fmt: skip


def run_celery(broker: str, median_s: float, dist: str, seed: int) -> dict[str, Any]:
    """A group per generation on a raw Celery worker, then (mu + lambda) truncation."""
    app.conf.broker_url = app.conf.result_backend = broker
    rng = random.Random(seed)
    case_ids = [f"case-{c:02d}" for c in range(CASES)]
    evaluated: list[str] = []
    started = time.perf_counter()

    def score(idents: list[str]) -> dict[str, float]:
        evaluated.extend(idents)
        job = group(evaluate.s(i, CASES, median_s, dist, CASE_CONCURRENCY) for i in idents)
        results = job.apply_async().get(timeout=600)  # the generation barrier
        return dict(zip(idents, results, strict=True))

    fitness = score([_ident(("seed", seed, i)) for i in range(POPULATION)])
    for generation in range(1, GENERATIONS + 1):
        parents = sorted(fitness, key=lambda i: (-fitness[i], i))[:POPULATION]
        children = [_ident((generation, rng.choice(parents), k)) for k in range(POPULATION)]
        fitness = {p: fitness[p] for p in parents} | score(children)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "ideal_s": _ideal(evaluated, case_ids, median_s, dist),
            "evaluations": len(evaluated)}  # fmt: skip


def _campaign(mode: str = "generational") -> CampaignSpec:
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={"population": POPULATION, "offspring": POPULATION, "generations": GENERATIONS,
                "target_fitness": None, "mode": mode}
    )  # fmt: skip
    budgets = spec.budgets.model_copy(update={"max_evaluations": None, "max_wall_s": None})
    return spec.model_copy(update={"evolution": evolution, "budgets": budgets})


class _Marks:
    """When evaluate tasks went out and evaluations came back, as the scheduler saw them."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []
        self.done: list[tuple[float, str]] = []

    def summary(self, started: float, ended: float, step_s: float = 0.5) -> dict[str, Any]:
        """First/last marks (seconds from the start) and evaluations in flight per step."""
        sent = sorted((t - started, g) for t, g in self.sent)
        done = sorted((t - started, g) for t, g in self.done)
        buckets = []
        for i in range(int((ended - started) / step_s) + 1):
            at = i * step_s
            out = {g for t, g in sent if t <= at}
            back = {g for t, g in done if t <= at}
            buckets.append([round(at, 2), len(out - back)])
        return {
            "first_sent_s": round(sent[0][0], 3) if sent else None,
            "first_done_s": round(done[0][0], 3) if done else None,
            "last_done_s": round(done[-1][0], 3) if done else None,
            "end_s": round(ended - started, 3),
            "evaluate_tasks": len(sent),
            "in_flight": buckets,
        }


class _MarkingDispatcher(CeleryDispatcher):
    def __init__(self, app: Celery, marks: _Marks) -> None:
        super().__init__(app)
        self.marks = marks

    def send_evaluate(self, request: EvalRequest, task_id: str) -> None:
        self.marks.sent.append((time.perf_counter(), request.genome_id))
        super().send_evaluate(request, task_id)


class _MarkingStore:
    """The farm's store, noting each evaluation event the scheduler takes."""

    def __init__(self, store: PopulationStore, marks: _Marks) -> None:
        self._store, self.marks = store, marks

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def wait_event(self, campaign: str, channel: str, timeout: float) -> Any:
        event = self._store.wait_event(campaign, channel, timeout)
        if event is not None and event.get("type") == "evaluated":
            self.marks.done.append((time.perf_counter(), str(event.get("genome"))))
        return event


def run_evofarm(
    farm: Farm,
    median_s: float,
    dist: str,
    seed: int,
    mode: str = "generational",
    *,
    timeline: bool = False,
) -> dict[str, Any]:
    """The farm, in ``mode``, on the synthetic evaluator (``timeline``: with its marks)."""
    spec = _campaign(mode)
    case_ids = [c.id for c in select_cases(spec.load_suite(), spec.fidelity)]
    campaign = control.submit(farm.store, spec, seed=seed)
    marks = _Marks()
    store = cast(PopulationStore, _MarkingStore(farm.store, marks)) if timeline else farm.store
    dispatcher = _MarkingDispatcher(farm.app, marks) if timeline else farm.dispatcher()
    scheduler = Scheduler(store, dispatcher, campaign, options=SchedulerOptions())
    started = time.perf_counter()
    scheduler.run()
    ended = time.perf_counter()
    idents = sorted({k.genome_id for k in farm.store.evaluation_keys(campaign)})
    ideal = _ideal(idents, case_ids, median_s, dist)
    run: dict[str, Any] = {"wall_s": ended - started, "ideal_s": ideal, "evaluations": len(idents)}
    if timeline:
        run["timeline"] = marks.summary(started, ended)
    return run


def _farm(farms: ExitStack, directory: Path, env: dict[str, str]) -> Farm:
    """An embedded farm of the workload (2 workers x 8 threads) with ``env``, ready."""
    processes = farms.enter_context(
        EmbeddedFarm(directory, workers=2, concurrency=8, pool="threads", env=env)
    )
    processes.wait_ready(timeout=120)
    store, app = connect_farm(processes.redis_url, processes.redis_url)
    return Farm(store, app, processes)


def _efficiency(run: dict[str, Any]) -> float:
    return round(run["ideal_s"] / run["wall_s"], 4)


def main() -> None:
    """Run the interleaved rounds and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", choices=["uniform", "lognormal"], default="uniform")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mode", choices=["generational", "steady"], default="generational")
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="add each evofarm run's timeline: first task sent, first and last evaluation "
        "back, the end, evaluations in flight every 0.5 s (16 slots)",
    )
    parser.add_argument(
        "--case-pool",
        default="worker",
        help="comma-separated EVOFARM_CASE_POOL settings, one farm each (the first: 'evofarm')",
    )
    args = parser.parse_args()
    median_s = args.latency_ms / 1000
    env = {
        "EVOFARM_EVALUATOR": "evofarm.testing.synthetic_eval:factory",
        "EVOFARM_SYNTHETIC_LATENCY_S": str(median_s),
        "EVOFARM_CASE_CONCURRENCY": str(CASE_CONCURRENCY),
        LATENCY_DIST_ENV: args.latency,
    }
    pools = [p for p in args.case_pool.split(",") if p]
    names = {p: "evofarm" if i == 0 else f"evofarm:{p}" for i, p in enumerate(pools)}
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names.values()}
    runs |= {"deap": [], "celery": []}
    with tempfile.TemporaryDirectory(prefix="evofarm-peers-") as tmp, ExitStack() as farms:
        redis_server = RedisServer(Path(tmp) / "peer-redis")
        redis_server.start()
        paths = [str(HERE), os.environ.get("PYTHONPATH", "")]
        worker_env = {
            **os.environ,
            "PEERS_BROKER_URL": redis_server.celery_url,
            "PYTHONPATH": os.pathsep.join(paths),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "peer_celery_app", "worker", "-P", "threads",
             "-c", str(EVALS_AT_ONCE), "--loglevel", "WARNING", "-n", "peers@%h"],
            env=worker_env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            started = {p: _farm(farms, Path(tmp) / f"farm-{p}", env | {CASE_POOL_ENV: p})
                       for p in pools}  # fmt: skip
            time.sleep(2)  # the peer worker connects meanwhile
            for round_ in range(args.rounds):
                seed = args.seed + round_
                for p, farm in started.items():
                    runs[names[p]].append(
                        run_evofarm(
                            farm, median_s, args.latency, seed, args.mode, timeline=args.timeline
                        )
                    )
                runs["deap"].append(run_deap(median_s, args.latency, seed))
                runs["celery"].append(
                    run_celery(redis_server.celery_url, median_s, args.latency, seed)
                )
            for farm in started.values():
                farm.close()
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            redis_server.stop()
    means = {name: statistics.fmean(_efficiency(r) for r in rs) for name, rs in runs.items()}
    print(
        json.dumps(
            {
                "benchmark": "peers",
                "latency": args.latency,
                "latency_ms": args.latency_ms,
                "evofarm_mode": args.mode,
                "workload": {
                    "population": POPULATION,
                    "generations": GENERATIONS,
                    "cases": CASES,
                    "slots": SLOTS,
                },
                "case_pools": pools,
                "efficiency": {k: round(v, 4) for k, v in means.items()},
                **{
                    f"ratio_{n}_over_{peer}".replace(":", "_"): round(means[n] / means[peer], 4)
                    for n in names.values()
                    for peer in ("deap", "celery")
                },
                "runs": {
                    k: [{**r, "efficiency": _efficiency(r)} for r in rs] for k, rs in runs.items()
                },
                "cpus": len(os.sched_getaffinity(0)),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
