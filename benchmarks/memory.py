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

Usage::

    python benchmarks/memory.py [--seeds 1 2] [--evaluations 300]
        [--pairs phone-digits:phone-area-code email-user:email-domain ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import load_campaign
from evofarm.store.collective import CollectiveMemory, InMemoryCollective

TASKS = Path(__file__).resolve().parent / "tasks"
SEED = TASKS / "seed.yaml"
PAIRS = [
    "phone-digits:phone-dashes",
    "email-user:email-domain",
    "file-stem:file-extension",
    "url-host:url-scheme",
]


def _run(
    task: str, seed: int, evaluations: int, use: bool, collective: CollectiveMemory
) -> dict[str, Any]:
    body = {
        "name": f"mem-{task}",
        "seeds": [str(SEED)],
        "suite": str(TASKS / f"{task}.yaml"),
        "evolution": {"seed": seed, "generations": 100_000, "target_fitness": 1.0},
        "budgets": {"max_evaluations": evaluations},
        "memory": {"use": use},
    }
    with tempfile.TemporaryDirectory(prefix="evofarm-mem-") as tmp:
        path = Path(tmp) / "campaign.yaml"
        path.write_text(json.dumps(body))
        spec = load_campaign(path)
        result = run_in_process(spec, collective=collective)
    reached = (result.summary.best.fitness or 0.0) >= 1.0
    return {
        "evaluations": result.summary.evaluations if reached else None,
        "fitness": result.summary.best.fitness,
    }


def main() -> None:
    """Run every pair and seed and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--evaluations", type=int, default=300)
    parser.add_argument("--pairs", nargs="+", default=PAIRS)
    args = parser.parse_args()
    started = time.perf_counter()
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
    budget = args.evaluations

    def cost(run: dict[str, Any]) -> int:
        return int(run["evaluations"]) if run["evaluations"] is not None else budget

    ratios = [cost(r["with_memory"]) / max(1, cost(r["without"])) for r in rows]
    print(
        json.dumps(
            {
                "benchmark": "memory",
                "evaluation_budget": budget,
                "runs": rows,
                "mean_ratio_with_over_without": round(sum(ratios) / len(ratios), 4),
                "faster": sum(1 for r in ratios if r < 1),
                "slower": sum(1 for r in ratios if r > 1),
                "equal": sum(1 for r in ratios if r == 1),
                "reached_with": sum(1 for r in rows if r["with_memory"]["evaluations"]),
                "reached_without": sum(1 for r in rows if r["without"]["evaluations"]),
                "wall_s": round(time.perf_counter() - started, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
