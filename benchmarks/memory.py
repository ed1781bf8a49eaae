"""Collective memory: does a campaign on a related task reach its target sooner with it?

For each pair of related tasks from ``benchmarks/tasks/`` (A, B) and each seed:
a campaign on A runs in-process and contributes its winner to a fresh
collective memory (:class:`~evofarm.store.collective.InMemoryCollective`); then
a campaign on B runs twice with the same seed, once with ``memory: {use:
true}`` (remembered fragments offered to feature insertion) and once without.
Both stop at ``target_fitness: 1.0`` (every training case passes) or at the
evaluation budget. Prints one JSON object: per pair and seed the evaluations
each B campaign needed (``null``: target not reached within the budget), and
over all runs the mean ratio with/without (runs where either missed count at
the budget) and how many runs were faster, slower or equal.

``--farm`` runs every campaign on an embedded farm instead (private Redis,
``--workers`` real worker processes running the real evaluator): A is mined
into the farm Redis's memory when it ends (emptied before each pair and
seed), B with ``use`` is offered it at submission, and each B-with-memory
campaign also runs in-process against the same memory content, so the
figures add whether the farm's best was the in-process one
(``same_best_as_in_process``).

Usage::

    python benchmarks/memory.py [--seeds 1 2] [--evaluations 300]
        [--pairs phone-digits:phone-area-code email-user:email-domain ...]
        [--farm [--workers 2]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evofarm import keys
from evofarm.campaign import control
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports.readback import summary
from evofarm.campaign.spec import CampaignSpec, campaign_from_data
from evofarm.farm.app import load_farm_settings
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.runner import run_scheduler, scheduler_options
from evofarm.farm.session import Farm, connect_farm
from evofarm.pipeline.yaml_source import SourceMap
from evofarm.store.collective import CollectiveMemory, InMemoryCollective, RedisCollective
from evofarm.store.redis import RedisStore

TASKS = Path(__file__).resolve().parent / "tasks"
SEED = TASKS / "seed.yaml"
PAIRS = [
    "phone-digits:phone-dashes",
    "email-user:email-domain",
    "file-stem:file-extension",
    "url-host:url-scheme",
]


def _spec(
    task: str, seed: int, evaluations: int, use: bool, contribute: bool = True
) -> CampaignSpec:
    body = {
        "name": f"mem-{task.replace('/', '-')}",
        "seeds": [str(SEED)],
        "suite": str(TASKS / f"{task}.yaml"),
        "evolution": {"seed": seed, "generations": 100_000, "target_fitness": 1.0},
        "budgets": {"max_evaluations": evaluations},
        "memory": {"use": use, "contribute": contribute},
    }
    return campaign_from_data(body, SourceMap("<benchmark>"), TASKS)


def _row(evaluations: int, fitness: float | None, best: str | None) -> dict[str, Any]:
    reached = (fitness or 0.0) >= 1.0
    return {"evaluations": evaluations if reached else None, "fitness": fitness, "best": best}


def _run(
    task: str, seed: int, evaluations: int, use: bool, collective: CollectiveMemory
) -> dict[str, Any]:
    spec = _spec(task, seed, evaluations, use)
    result = run_in_process(spec, collective=collective)
    best = result.summary.best
    return _row(result.summary.evaluations, best.fitness, best.genome)


def _run_on_farm(farm: Farm, task: str, seed: int, evaluations: int, use: bool) -> dict[str, Any]:
    spec = _spec(task, seed, evaluations, use)
    campaign = control.submit(farm.store, spec)
    started = time.perf_counter()
    run_scheduler(farm, campaign, options=scheduler_options(load_farm_settings()))
    ended = summary(farm.store, campaign)
    row = _row(ended.evaluations, ended.best.fitness, ended.best.genome)
    return {**row, "wall_s": round(time.perf_counter() - started, 2)}


@contextlib.contextmanager
def _farm(workers: int) -> Iterator[Farm]:
    with (
        tempfile.TemporaryDirectory(prefix="evofarm-bench-") as tmp,
        EmbeddedFarm(Path(tmp), workers=workers) as processes,
    ):
        processes.wait_ready(timeout=120)
        store, app = connect_farm(processes.redis_url, processes.redis_url)
        farm = Farm(store, app, processes)
        try:
            yield farm
        finally:
            farm.close()


def _farm_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    with _farm(args.workers) as farm:
        store = farm.store
        assert isinstance(store, RedisStore)
        memory = RedisCollective(store.client)
        for pair in args.pairs:
            first, second = pair.split(":")
            for seed in args.seeds:
                store.client.delete(
                    keys.memory_patterns(), keys.memory_pattern_winners(), keys.memory_gallery(),
                    keys.memory_failures(), keys.memory_failure_counts(),
                )  # fmt: skip
                source = _run_on_farm(farm, first, seed, args.evaluations, False)
                offered = len([p for p in memory.patterns() if p.kind == "ops"])
                # The in-process twin first, not contributing: the farm campaign then
                # reads the very memory content it read.
                twin = run_in_process(
                    _spec(second, seed, args.evaluations, True, contribute=False),
                    collective=memory,
                )
                with_memory = _run_on_farm(farm, second, seed, args.evaluations, True)
                without = _run_on_farm(farm, second, seed, args.evaluations, False)
                same = twin.summary.best.genome == with_memory["best"]
                rows.append({"pair": pair, "seed": seed, "source": source, "patterns": offered,
                             "with_memory": with_memory, "without": without,
                             "same_best_as_in_process": same})  # fmt: skip
    return rows


def _in_process_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for pair in args.pairs:
        first, second = pair.split(":")
        for seed in args.seeds:
            memory = InMemoryCollective()
            source = _run(first, seed, args.evaluations, False, memory)
            offered = len([p for p in memory.patterns() if p.kind == "ops"])
            with_memory = _run(second, seed, args.evaluations, True, memory)
            without = _run(second, seed, args.evaluations, False, InMemoryCollective())
            rows.append({"pair": pair, "seed": seed, "source": source, "patterns": offered,
                         "with_memory": with_memory, "without": without})  # fmt: skip
    return rows


def main() -> None:
    """Run every pair and seed and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--evaluations", type=int, default=300)
    parser.add_argument("--pairs", nargs="+", default=PAIRS)
    parser.add_argument("--farm", action="store_true", help="run on an embedded farm")
    parser.add_argument("--workers", type=int, default=2, help="farm worker processes")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = _farm_rows(args) if args.farm else _in_process_rows(args)
    budget = args.evaluations

    def cost(run: dict[str, Any]) -> int:
        return int(run["evaluations"]) if run["evaluations"] is not None else budget

    ratios = [cost(r["with_memory"]) / max(1, cost(r["without"])) for r in rows]
    print(
        json.dumps(
            {
                "benchmark": "memory",
                "where": f"farm ({args.workers} workers)" if args.farm else "in-process",
                "evaluation_budget": budget,
                "runs": rows,
                "mean_ratio_with_over_without": round(sum(ratios) / len(ratios), 4),
                "faster": sum(1 for r in ratios if r < 1),
                "slower": sum(1 for r in ratios if r > 1),
                "equal": sum(1 for r in ratios if r == 1),
                "reached_with": sum(1 for r in rows if r["with_memory"]["evaluations"]),
                "reached_without": sum(1 for r in rows if r["without"]["evaluations"]),
                **(
                    {"same_best_as_in_process": sum(r["same_best_as_in_process"] for r in rows)}
                    if args.farm
                    else {}
                ),
                "wall_s": round(time.perf_counter() - started, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
