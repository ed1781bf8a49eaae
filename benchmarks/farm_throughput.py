"""Farm throughput: how close the farm gets to ideal when evaluations wait on LLMs.

Runs a campaign on an embedded farm (private Redis + worker processes) whose
evaluations are dominated by simulated LLM latency: the synthetic evaluator
(:mod:`evofarm.testing.synthetic_eval`) makes one call per case that only waits
``--latency-ms``; a genome's cases wait concurrently inside its task, on up to
``--case-concurrency`` threads. Prints one JSON line.

Definitions:

* ``slots`` (the total concurrency): simulated calls the farm can wait on at
  once = workers x pool threads per worker x case concurrency.
* ``--latency uniform`` waits ``--latency-ms`` per call; ``lognormal`` draws
  each call's wait (median ``--latency-ms``, p99/p50 = 10) from a seeded hash
  of (genome, case), so reruns wait the same.
* ``ideal_s`` = total simulated latency (the sum of every evaluated case's wait) / slots;
  ``efficiency`` = ideal_s / actual_s, where actual_s runs from the first task
  sent to the campaign's end (seed evaluation, breeding, selection and
  checkpoints all count against the farm).
* ``per_task_overhead_ms``: slot time lost per task = (actual_s - ideal_s) x slots /
  tasks, tasks counting breed and evaluate tasks.
* ``generation_turnaround_ms``: from the last result of generation g to the
  first task of g+1, measured in the scheduler (median and max over generations).
* ``--mode generational|steady``: the campaign's ``evolution.mode`` (steady: no
  barrier, a freed slot gets a child at once); ``--breeding
  auto|scheduler|batch|tasks``: children that need no LLM made in the
  scheduler, 8 to a breed task, or one breed task each (as before); ``auto``
  (the default) batches in generational mode and breeds in the scheduler in
  steady state.
* ``cpu_s``: CPU seconds of the scheduler (this process), the workers and Redis
  over the run (from /proc), and ``cpu_s_per_evaluation`` their sum over evaluations.
* ``--case-pool worker,evaluation``: one farm per ``EVOFARM_CASE_POOL`` setting
  (a worker's case threads shared by its evaluations, or each evaluation its
  own), every ``--compare`` run on each, interleaved; ``--rounds``: the whole
  set again with the next seed, figures averaged per run in ``means``.

The defaults (24 cases per evaluation, 2 at a time: 1.2 s of simulated latency
per evaluation task) keep the farm latency-bound. The seed generation (one
genome evaluated while every other slot idles) counts against the farm too.

Targets: efficiency >= 0.85; turnaround <= 50 ms at population 256. Usage::

    python benchmarks/farm_throughput.py [--population 256] [--generations 3] \
        [--latency uniform|lognormal] [--mode generational|steady] \
        [--breeding auto|scheduler|batch|tasks] [--compare MODE:BREEDING,...] \
        [--case-pool worker[,evaluation]] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from evofarm.campaign import control
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.session import Farm, connect_farm
from evofarm.fitness.runner import select_cases
from evofarm.testing.synthetic_eval import LATENCY_DIST_ENV, case_latency

DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "campaigns" / "demo.yaml"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of live processes so far (0 for any gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


def campaign(
    population: int, generations: int, fidelity: float, mode: str = "generational"
) -> CampaignSpec:
    """The demo campaign at the benchmark's size, with no budgets and no early stop."""
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
    return spec.model_copy(
        update={"evolution": evolution, "budgets": budgets, "fidelity": fidelity}
    )


def run_one(
    processes: EmbeddedFarm,
    farm: Farm,
    args: argparse.Namespace,
    mode: str,
    breeding: str,
    seed: int,
) -> dict[str, object]:
    """One campaign on the running farm; its figures."""
    store = farm.store
    spec = campaign(args.population, args.generations, args.fidelity, mode)
    case_ids = [c.id for c in select_cases(spec.load_suite(), spec.fidelity)]
    campaign_id = control.submit(store, spec, seed=seed)
    options = SchedulerOptions(breeding=breeding, spread=args.spread)  # type: ignore[arg-type]
    scheduler = Scheduler(store, farm.dispatcher(), campaign_id, options=options)
    redis_pid = processes.redis.pid
    workers = [p for p in processes.all_pids() if p != redis_pid]
    redis = [redis_pid] if redis_pid is not None else []
    cpu_before = (time.process_time(), cpu_seconds(workers), cpu_seconds(redis))
    started = time.perf_counter()
    outcome = scheduler.run()
    actual_s = time.perf_counter() - started
    cpu_after = (time.process_time(), cpu_seconds(workers), cpu_seconds(redis))
    evaluations = store.counters(campaign_id).get("evaluations", 0)
    checkpoint = store.load_checkpoint(campaign_id)
    evaluated = sorted({k.genome_id for k in store.evaluation_keys(campaign_id)})
    children = checkpoint.state["counters"]["tasks"] if checkpoint else 0
    # The demo has no LLM operator: every child is made as ``breeding`` says.
    batches = -(-spec.evolution.lam // options.batch_size) * args.generations
    breed_tasks: int | None = {"tasks": children, "batch": batches}.get(breeding, 0)
    if mode == "steady" and breeding == "batch":
        breed_tasks = None  # a freed slot's child is a batch of one: not counted here
    slots = args.workers * args.concurrency * min(args.case_concurrency, len(case_ids))
    median_s = args.latency_ms / 1000
    total_latency_s = sum(
        case_latency(g, c, median_s, args.latency) for g in evaluated for c in case_ids
    )
    ideal_s = total_latency_s / slots
    tasks = evaluations + (breed_tasks or 0)
    turnarounds = scheduler.turnarounds_ms
    spent = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
    cpu = dict(zip(("scheduler", "workers", "redis"), spent, strict=True))
    return {
        "mode": mode,
        "breeding": breeding,
        "seed": seed,
        "status": outcome.status,
        "efficiency": round(ideal_s / actual_s, 4),
        "per_task_overhead_ms": round((actual_s - ideal_s) * slots / max(1, tasks) * 1000, 3),
        "generation_turnaround_ms": {
            "median": round(statistics.median(turnarounds), 2) if turnarounds else None,
            "max": round(max(turnarounds), 2) if turnarounds else None,
        },
        "actual_s": round(actual_s, 3),
        "ideal_s": round(ideal_s, 3),
        "total_latency_s": round(total_latency_s, 3),
        "evaluations": evaluations,
        "children": children,
        "breed_tasks": breed_tasks,
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_s_per_evaluation": round(sum(cpu.values()) / max(1, evaluations), 4),
    }


def _means(results: list[dict[str, object]]) -> dict[str, dict[str, float]]:
    """Per ``mode:breeding[:case_pool]``: mean efficiency, evaluations/s, CPU s/evaluation."""
    grouped: dict[str, list[dict[str, object]]] = {}
    for r in results:
        key = f"{r['mode']}:{r['breeding']}:{r['case_pool']}"
        grouped.setdefault(key, []).append(r)

    def mean(rs: list[dict[str, object]], f: Callable[[dict[str, object]], float]) -> float:
        return round(statistics.fmean(f(r) for r in rs), 4)

    return {
        key: {
            "rounds": len(rs),
            "efficiency": mean(rs, lambda r: float(str(r["efficiency"]))),
            "evaluations_per_s": mean(
                rs, lambda r: float(str(r["evaluations"])) / float(str(r["actual_s"]))
            ),
            "cpu_s_per_evaluation": mean(rs, lambda r: float(str(r["cpu_s_per_evaluation"]))),
        }
        for key, rs in grouped.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=256)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=100.0, help="(median) per case")
    parser.add_argument(
        "--latency",
        default="uniform",
        choices=["uniform", "lognormal"],
        help="uniform: every call waits --latency-ms; lognormal: median --latency-ms, "
        "p99/p50 = 10, seeded draws keyed by genome and case",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork"])
    parser.add_argument("--concurrency", type=int, default=8, help="pool size per worker")
    parser.add_argument("--case-concurrency", type=int, default=2)
    parser.add_argument("--fidelity", type=float, default=1.0, help="share of the 24 cases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--spread", type=int, default=SchedulerOptions().spread, help="SchedulerOptions.spread"
    )
    parser.add_argument("--mode", default="generational", choices=["generational", "steady"])
    parser.add_argument(
        "--breeding", default="auto", choices=["auto", "scheduler", "batch", "tasks"]
    )
    parser.add_argument(
        "--compare",
        default="",
        help="comma-separated mode:breeding runs on the same farm, one after another "
        "(e.g. generational:tasks,generational:scheduler,steady:scheduler); "
        "overrides --mode/--breeding",
    )
    parser.add_argument(
        "--case-pool",
        default="worker",
        help="comma-separated EVOFARM_CASE_POOL settings: one farm each, runs interleaved",
    )
    parser.add_argument("--rounds", type=int, default=1, help="the runs again, next seed")
    args = parser.parse_args()
    runs = [tuple(item.split(":")) for item in args.compare.split(",") if item] or [
        (args.mode, args.breeding)
    ]
    env = {
        "EVOFARM_EVALUATOR": "evofarm.testing.synthetic_eval:factory",
        "EVOFARM_SYNTHETIC_LATENCY_S": str(args.latency_ms / 1000),
        "EVOFARM_CASE_CONCURRENCY": str(args.case_concurrency),
        LATENCY_DIST_ENV: args.latency,
    }
    pools = [p for p in args.case_pool.split(",") if p]
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="evofarm-bench-") as tmp, ExitStack() as stack:
        farms = {}
        for pool in pools:
            processes = stack.enter_context(
                EmbeddedFarm(
                    Path(tmp) / pool,
                    workers=args.workers,
                    concurrency=args.concurrency,
                    pool=args.pool,
                    env=env | {"EVOFARM_CASE_POOL": pool},
                )
            )
            processes.wait_ready(timeout=120)
            store, app = connect_farm(processes.redis_url, processes.redis_url)
            farms[pool] = (processes, Farm(store, app, processes))
        for round_ in range(args.rounds):
            for mode, breeding in runs:
                for pool, (processes, farm) in farms.items():
                    run = run_one(processes, farm, args, mode, breeding, args.seed + round_)
                    results.append({**run, "case_pool": pool})
        for _, farm in farms.values():
            farm.close()
    first = results[0]
    doc: dict[str, object] = {
        "benchmark": "farm_throughput",
        **(first if len(results) == 1 else {"runs": results}),
    }
    if len(results) > 1:
        means = _means(results)
        base = next(iter(means.values()))["evaluations_per_s"]
        doc["means"] = means
        doc["throughput_vs_first"] = {
            k: round(m["evaluations_per_s"] / base, 3) for k, m in means.items()
        }
    doc["params"] = {
        "population": args.population,
        "generations": args.generations,
        "latency_ms": args.latency_ms,
        "latency": args.latency,
        "workers": args.workers,
        "pool": args.pool,
        "concurrency": args.concurrency,
        "case_concurrency": args.case_concurrency,
        "slots": args.workers * args.concurrency * args.case_concurrency,
        "cpus": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
    }
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
