"""The record of one pipeline run (JSON-serialisable pydantic models).

``RunTrace.model_dump(mode="json")`` is what crosses process boundaries (sandbox
child -> worker), is stored with evaluations and is printed by
``evofarm pipeline run --json``.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evofarm.providers.base import LLMResponse

StepStatusName = Literal["completed", "skipped", "failed"]


class Usage(BaseModel):
    """LLM usage and time of a step or of a whole run."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    llm_calls: int = 0
    duration_ms: float = 0.0


class StepTrace(BaseModel):
    """One top-level step of a run (loops and nested pipelines include their insides).

    ``result`` is the step's result (``None`` for skipped and failed steps);
    ``errors`` lists what went wrong, retried provider failures included.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    type: str
    status: StepStatusName
    result: Any = None
    skipped: bool = False
    skip_reason: str | None = None
    duration_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    llm_calls: int = 0
    retries: int = 0
    errors: list[str] = Field(default_factory=list)


class RunTrace(BaseModel):
    """A whole run: per-step traces in execution order, totals and the outcome.

    ``status`` is ``failed`` when a step failed or a limit was breached; then
    ``error`` is the message, ``error_step`` the top-level step it happened in
    (``None`` if outside any step) and ``error_type`` the error class name
    (``LimitExceeded`` ...), with ``limit`` naming a breached limit.
    ``output`` is the result of the last step that ran (not skipped).
    """

    model_config = ConfigDict(extra="forbid")

    pipeline: str
    status: Literal["completed", "failed"]
    error: str | None = None
    error_step: str | None = None
    error_type: str | None = None
    limit: str | None = None
    steps: dict[str, StepTrace] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    output: Any = None


class UsageMeter:
    """Thread-safe accumulator of the LLM calls made while one step runs.

    Batch and parallel steps make calls from several threads; nested steps
    (inside loops, nested pipelines) record into their container's meter.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.llm_calls = 0
        self.retries = 0
        self.errors: list[str] = []

    def record(self, response: LLMResponse) -> None:
        """Add one provider response (its own transport retries count too)."""
        with self._lock:
            self.input_tokens += response.usage.input_tokens
            self.output_tokens += response.usage.output_tokens
            self.cost_usd += response.cost_usd
            self.llm_calls += 1
            self.retries += response.retries

    def record_retry(self, error: str) -> None:
        """A retry after ``error`` (``claude_robust``, an LLM call under the step's
        retry policy, a nested pipeline's ``config.max_retries``)."""
        with self._lock:
            self.retries += 1
            self.errors.append(error)

    def record_error(self, error: str) -> None:
        """An error that did not stop the step (a failed batch task, a fallback)."""
        with self._lock:
            self.errors.append(error)

    def add(self, other: UsageMeter) -> None:
        """Fold another meter (a nested step's) into this one."""
        with other._lock:
            counts = (
                other.input_tokens,
                other.output_tokens,
                other.cost_usd,
                other.llm_calls,
                other.retries,
                list(other.errors),
            )
        with self._lock:
            self.input_tokens += counts[0]
            self.output_tokens += counts[1]
            self.cost_usd += counts[2]
            self.llm_calls += counts[3]
            self.retries += counts[4]
            self.errors.extend(counts[5])
