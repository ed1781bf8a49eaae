"""Old import path of :mod:`evofarm.fitness.runner` (runs a candidate on a suite).

Kept because other areas (campaign, testing, benchmarks, the pipeline_executor
step) import it; new code imports :mod:`evofarm.fitness.runner`.
"""

from __future__ import annotations

from evofarm.fitness.runner import (
    CaseFailed,
    CaseRunner,
    RuntimeFactory,
    default_case_runner,
    evaluate_pipeline,
    per_case_runtimes,
    run_case,
    select_cases,
    trace_view,
)

__all__ = [
    "CaseFailed",
    "CaseRunner",
    "RuntimeFactory",
    "default_case_runner",
    "evaluate_pipeline",
    "per_case_runtimes",
    "run_case",
    "select_cases",
    "trace_view",
]
