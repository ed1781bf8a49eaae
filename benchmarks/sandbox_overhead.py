"""Milliseconds per evaluation of a trivial candidate: in-process vs sandboxed.

Prints one JSON object. The modes are measured side by side in one run,
interleaved round by round so that machine load affects them alike:

* ``in_process``: compile the candidate and call ``run(value)`` in this process
  (what evaluation would cost with no protection at all);
* ``sandboxed_full``: ``run_sandboxed`` with namespaces (the default);
* ``sandboxed_degraded``: ``run_sandboxed(namespaces=False)`` (the fallback).

``per_case`` measures milliseconds per CASE of the demo campaign's seed on its
suite (24 cases), the three ways an evaluation can run them, interleaved:

* ``in_process``: ``run_pipeline`` per case in this process;
* ``sandboxed_per_case``: one sandbox per case (``run_pipeline_sandboxed``);
* ``sandboxed_batch``: one sandbox per evaluation, ``--concurrency`` cases at
  once inside it (``run_pipeline_batch_sandboxed``), divided by the case count.

The zygote's one-time start is reported separately (``zygote_start_ms``);
``overhead_ms`` is the sandboxed median minus the in-process median. Target:
``sandboxed_full`` median <= 30 ms. Usage::

    python benchmarks/sandbox_overhead.py [--rounds N] [--warmup N] [--case-rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from evofarm.campaign.candidate_runtime import runtime_factory
from evofarm.campaign.spec import load_campaign
from evofarm.pipeline.executor import run_pipeline
from evofarm.sandbox.child.candidate import call_python
from evofarm.sandbox.child.zygote import get_zygote, shutdown_zygote
from evofarm.sandbox.parent.batch import run_pipeline_batch_sandboxed
from evofarm.sandbox.parent.pipeline import run_pipeline_sandboxed
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.wire.job import PythonJob
from evofarm.sandbox.wire.outcome import Outcome

CODE = "def run(value):\n    return value + 1\n"
TARGET_MS = 30.0
DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "campaigns" / "demo.yaml"


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "min_ms": round(ordered[0], 3),
        "max_ms": round(ordered[-1], 3),
    }


def _per_case(rounds: int, concurrency: int) -> dict[str, object]:
    """Milliseconds per case of the demo seed on its suite, three ways (see module docs)."""
    spec = load_campaign(DEMO)
    pipeline = spec.load_seeds()[0]
    cases = [(c.id, dict(c.inputs)) for c in spec.load_suite().cases]
    base_dir = spec.seed_paths[0].parent
    make_runtime = runtime_factory(spec)
    suite_cases = spec.load_suite().cases

    def in_process() -> None:
        for case in suite_cases:
            run_pipeline(pipeline, dict(case.inputs), runtime=make_runtime(case))

    def per_case() -> None:
        for _, inputs in cases:
            result = run_pipeline_sandboxed(pipeline, inputs, llm=None, base_dir=base_dir)
            if result.outcome is not Outcome.OK:
                raise SystemExit(f"demo case failed: {result.outcome}: {result.message}")

    def batch() -> None:
        result = run_pipeline_batch_sandboxed(
            pipeline, cases, llm=None, concurrency=concurrency, base_dir=base_dir
        )
        if any(r.outcome is not Outcome.OK for r in result.cases.values()):
            raise SystemExit(f"demo batch failed: {result.sandbox.message}")

    modes = {"in_process": in_process, "sandboxed_per_case": per_case, "sandboxed_batch": batch}
    samples: dict[str, list[float]] = {name: [] for name in modes}
    for round_no in range(rounds + 1):  # the first round warms up
        for name, fn in modes.items():
            t0 = time.perf_counter()
            fn()
            if round_no:
                samples[name].append((time.perf_counter() - t0) * 1000 / len(cases))
    return {
        "cases": len(cases),
        "concurrency": concurrency,
        "rounds": rounds,
        "ms_per_case": {name: _summary(values) for name, values in samples.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--case-rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    shutdown_zygote()
    started = time.perf_counter()
    get_zygote()
    zygote_start_ms = (time.perf_counter() - started) * 1000

    isolation: dict[str, object] = {}

    def sandboxed(namespaces: bool) -> Callable[[], None]:
        def once() -> None:
            result = run_sandboxed(PythonJob(code=CODE, input=1), namespaces=namespaces)
            if result.outcome is not Outcome.OK or result.value != 2:
                raise SystemExit(f"trivial candidate failed: {result.outcome}: {result.message}")
            isolation["full" if namespaces else "degraded"] = result.isolation.model_dump()

        return once

    def in_process() -> None:
        if call_python(CODE, 1) != 2:
            raise SystemExit("trivial candidate failed in process")

    modes: dict[str, Callable[[], None]] = {
        "in_process": in_process,
        "sandboxed_full": sandboxed(True),
        "sandboxed_degraded": sandboxed(False),
    }
    samples: dict[str, list[float]] = {name: [] for name in modes}
    for round_no in range(args.warmup + args.rounds):
        for name, fn in modes.items():
            t0 = time.perf_counter()
            fn()
            elapsed = (time.perf_counter() - t0) * 1000
            if round_no >= args.warmup:
                samples[name].append(elapsed)

    results = {name: _summary(values) for name, values in samples.items()}
    per_case = _per_case(args.case_rounds, args.concurrency)
    base = results["in_process"]["median_ms"]
    full = results["sandboxed_full"]["median_ms"]
    print(
        json.dumps(
            {
                "benchmark": "sandbox_overhead",
                "parameters": {
                    "rounds": args.rounds,
                    "warmup": args.warmup,
                    "candidate": CODE,
                    "interleaved": True,
                },
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(),
                    "kernel": platform.release(),
                },
                "zygote_start_ms": round(zygote_start_ms, 1),
                "results": results,
                "overhead_ms": {
                    "sandboxed_full": round(full - base, 3),
                    "sandboxed_degraded": round(
                        results["sandboxed_degraded"]["median_ms"] - base, 3
                    ),
                },
                "target_ms": TARGET_MS,
                "target_met": full <= TARGET_MS,
                "isolation": isolation,
                "per_case": per_case,
            },
            indent=2,
        )
    )
    shutdown_zygote()


if __name__ == "__main__":
    main()
