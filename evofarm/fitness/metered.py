"""Usage measured outside the candidate's run, to score a case by.

A run trace's ``usage`` is written next to the candidate's own code: a
``python`` step that runs in the same process (the sandboxed child) can rewrite
it. An evaluator whose runner executes elsewhere passes a :data:`CaseMeter`;
:func:`~evofarm.fitness.runner.run_case` then takes a case's tokens, cost and
latency from the meter (for the case's record, its efficiency and the
objectives) and ignores the trace's figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evofarm.fitness.suite_models import Case


@dataclass(frozen=True)
class MeteredUsage:
    """One case's usage as the trusted side counted it (all non-negative)."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float

    def __post_init__(self) -> None:
        figures = (self.input_tokens, self.output_tokens, self.cost_usd, self.latency_ms)
        if any(f < 0 for f in figures):
            raise ValueError(f"metered usage must be non-negative, got {self}")


CaseMeter = Callable[[Case], MeteredUsage]
"""``(case) -> MeteredUsage``: called after the case's runner returned or raised."""
