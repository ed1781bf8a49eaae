"""Per-case cost of the in-process executor on the demo suite.

Runs the demo's seed pipeline over every case of its suite, ``--rounds`` times,
and prints one JSON line: ms per case run and per step executed. This is the
inner loop of every evaluation, so it bounds how fast the farm can evaluate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from evofarm.fitness.suite import load_suite
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline
from evofarm.pipeline.runtime import Runtime
from evofarm.providers.registry import ProviderSet

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    pipeline = load_pipeline(ROOT / "pipelines/examples/contact-cleaner-seed.yaml")
    suite = load_suite(ROOT / "pipelines/suites/contacts.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(
            providers=ProviderSet.for_provider("mock"), strict=True, workspace=Path(tmp)
        )
        per_round: list[float] = []
        steps = 0
        for _ in range(args.rounds):
            start = time.perf_counter()
            for case in suite.cases:
                trace = run_pipeline(pipeline, case.inputs, runtime=runtime)
                steps += len(trace.steps)
            per_round.append((time.perf_counter() - start) / len(suite.cases))
    runs = args.rounds * len(suite.cases)
    median_ms = statistics.median(per_round) * 1000
    print(
        json.dumps(
            {
                "benchmark": "executor_overhead",
                "case_runs": runs,
                "steps_per_run": steps / runs,
                "ms_per_case_run_median": round(median_ms, 4),
                "ms_per_step": round(median_ms / (steps / runs), 4),
                "rounds": args.rounds,
            }
        )
    )


if __name__ == "__main__":
    main()
