"""Search quality: held-out solve rate of the no-LLM search on the project's string tasks.

Every task in ``benchmarks/tasks/`` is a suite of training cases (``NAME.yaml``)
and one of held-out cases (``NAME.heldout.yaml``), written the way a user
writes a suite (one required ``equals`` check per case), all starting from the
trivial seed ``benchmarks/tasks/seed.yaml`` (the identity). For each selection
mode given, each task is evolved in-process on its training cases with the
default evolution settings and an equal evaluation budget (``--evaluations``),
stopping early once every training case passes. The winner's best.yaml is then
scored on the held-out cases with ``evofarm judge --json`` (a separate
process): a task is solved when every held-out case passes.

A mode is a selection strategy with optional ``selection_options``, spelled
``NAME[:KEY[=VALUE][,KEY[=VALUE]...]]`` (a bare key means true, a value is
JSON): ``random_search`` is the blind baseline, ``random_search:feedback`` the
one whose operators see the seed's evidence ("no selection, same proposer"),
``random_search:max_operators=5`` another option.

Prints one JSON object: per task and mode the training fitness, evaluations
used and held-out result; per mode the solve rate; and the ratio of the first
mode's solve rate to each other's (``random_search`` is the baseline).

Usage::

    python benchmarks/search_quality.py
        [--modes mu_plus_lambda random_search random_search:feedback]
        [--evaluations 800] [--seed 1] [--tasks initials slug ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import load_campaign
from evofarm.errors import FarmError

TASKS = Path(__file__).resolve().parent / "tasks"
SEED = TASKS / "seed.yaml"


def task_names(tasks_dir: Path = TASKS) -> list[str]:
    """Every task with a training and a held-out suite in ``tasks_dir``, sorted."""
    return sorted(
        p.name.removesuffix(".yaml")
        for p in tasks_dir.glob("*.yaml")
        if not p.name.endswith(".heldout.yaml")
        and p != SEED
        and (tasks_dir / (p.name.removesuffix(".yaml") + ".heldout.yaml")).exists()
    )


def parse_mode(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME[:KEY[=VALUE],...]`` -> (selection, selection_options).

    Raises:
        ValueError: an empty name or key, or a value that is not JSON.
    """
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not key:
            raise ValueError(f"mode {text!r}: empty option name in {item!r}")
        try:
            options[key] = json.loads(value) if eq else True
        except json.JSONDecodeError:
            raise ValueError(f"mode {text!r}: option {key!r} value {value!r} is not JSON") from None
    if not name:
        raise ValueError(f"mode {text!r}: no selection strategy named")
    return name, options


def campaign_text(
    task: str, mode: str, evaluations: int, seed: int, tasks_dir: Path = TASKS
) -> str:
    """A campaign on the task's training suite: default evolution, equal budget.

    ``mode`` is spelled as :func:`parse_mode` reads it.
    """
    selection, options = parse_mode(mode)
    return json.dumps(
        {
            "name": f"bench-{task}",
            "seeds": [str(SEED)],
            "suite": str(tasks_dir / f"{task}.yaml"),
            "evolution": {
                "seed": seed,
                "selection": selection,
                **({"selection_options": options} if options else {}),
                "generations": 100_000,
                "target_fitness": 1.0,
            },
            "budgets": {"max_evaluations": evaluations},
        }
    )


def judge_held_out(best: Path, task: str, tasks_dir: Path = TASKS) -> dict[str, Any]:
    """``evofarm judge BEST --suite NAME.heldout.yaml --json``, parsed."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from evofarm.cli.main import main; main()",
            "judge",
            str(best),
            "--suite",
            str(tasks_dir / f"{task}.heldout.yaml"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-300:]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_task(
    task: str, mode: str, evaluations: int, seed: int, tasks_dir: Path = TASKS
) -> dict[str, Any]:
    """Evolve one task under one mode and judge its winner on the held-out cases."""
    with tempfile.TemporaryDirectory(prefix="evofarm-bench-") as tmp:
        campaign = Path(tmp) / "campaign.yaml"
        campaign.write_text(campaign_text(task, mode, evaluations, seed, tasks_dir))
        try:
            spec = load_campaign(campaign)
        except FarmError as exc:
            return {"error": str(exc)[:300]}
        out = Path(tmp) / "out"
        started = time.perf_counter()
        result = run_in_process(spec, out_dir=out)
        held = judge_held_out(out / "best.yaml", task, tasks_dir)
        return {
            "train_fitness": result.summary.best.fitness,
            "evaluations": result.summary.evaluations,
            "held_out_passed": held.get("tests_passed"),
            "held_out_total": held.get("tests_total"),
            "solved": bool(held.get("tests_total"))
            and held.get("tests_passed") == held.get("tests_total"),
            "wall_s": round(time.perf_counter() - started, 2),
            **({"error": held["error"]} if "error" in held else {}),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", default=["mu_plus_lambda"])
    parser.add_argument("--evaluations", type=int, default=800)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument(
        "--tasks-dir",
        type=lambda text: Path(text).resolve(),
        default=TASKS,
        help="where the NAME.yaml / NAME.heldout.yaml pairs are (e.g. tasks/unseen)",
    )
    args = parser.parse_args(argv)
    for mode in args.modes:
        try:
            parse_mode(mode)
        except ValueError as exc:
            parser.error(str(exc))
    tasks = args.tasks or task_names(args.tasks_dir)
    per_task: dict[str, dict[str, Any]] = {}
    for task in tasks:
        per_task[task] = {
            m: run_task(task, m, args.evaluations, args.seed, args.tasks_dir) for m in args.modes
        }
        print(json.dumps({"progress": task, **per_task[task]}), file=sys.stderr, flush=True)
    rates = {
        m: sum(1 for t in tasks if per_task[t][m].get("solved")) / len(tasks) for m in args.modes
    }
    first = args.modes[0]
    ratios = {
        f"{first}/{m}": (rates[first] / rates[m] if rates[m] else None) for m in args.modes[1:]
    }
    print(
        json.dumps(
            {
                "tasks": len(tasks),
                "tasks_dir": str(args.tasks_dir),
                "evaluations": args.evaluations,
                "seed": args.seed,
                "solve_rate": rates,
                "solved": {m: round(rates[m] * len(tasks)) for m in args.modes},
                "ratio": ratios,
                "wall_s": {
                    m: round(sum(per_task[t][m].get("wall_s", 0.0) for t in tasks), 1)
                    for m in args.modes
                },
                "per_task": per_task,
            },
            sort_keys=True,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
