"""Old import path of :mod:`evofarm.fitness.records` (the evaluation records).

Kept because other areas (campaign, testing, benchmarks) import it; new code
imports :mod:`evofarm.fitness.records`.
"""

from __future__ import annotations

from evofarm.fitness.records import (
    ERROR_CHARS,
    EXCERPT_CHARS,
    MAX_ERRORS,
    WORST,
    CaseResult,
    Evaluation,
    aggregate,
    cap_errors,
    cap_text,
    failed_objectives,
    invalid_evaluation,
)

__all__ = [
    "ERROR_CHARS",
    "EXCERPT_CHARS",
    "MAX_ERRORS",
    "WORST",
    "CaseResult",
    "Evaluation",
    "aggregate",
    "cap_errors",
    "cap_text",
    "failed_objectives",
    "invalid_evaluation",
]
