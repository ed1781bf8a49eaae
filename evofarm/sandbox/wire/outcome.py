"""Typed results of a sandboxed evaluation."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Outcome(StrEnum):
    """How one evaluation ended. Anything but ``OK`` is a candidate failure."""

    OK = "ok"
    CANDIDATE_ERROR = "candidate_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    CPU_LIMIT = "cpu_limit"
    PROCESS_LIMIT = "process_limit"
    OUTPUT_LIMIT = "output_limit"
    FORBIDDEN = "forbidden"
    CRASHED = "crashed"


class Isolation(BaseModel):
    """Which isolation an evaluation actually ran under.

    ``mode`` is ``"full"`` when every protection in the issue was in place;
    otherwise ``"degraded"`` and ``missing`` names each protection that the
    platform refused, with the reason.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["full", "degraded"]
    missing: tuple[str, ...] = ()

    @classmethod
    def from_missing(cls, missing: list[str] | tuple[str, ...]) -> Isolation:
        """``full`` when nothing is missing, else ``degraded`` with the reasons."""
        return cls(mode="degraded" if missing else "full", missing=tuple(missing))


class SandboxUsage(BaseModel):
    """LLM usage the parent served on the child's behalf, and the child's CPU."""

    model_config = ConfigDict(extra="forbid")

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cpu_s: float = 0.0
    max_rss_bytes: int = 0


class SandboxResult(BaseModel):
    """The one record of a sandboxed evaluation (JSON round trip safe).

    Attributes:
        outcome: how it ended.
        message: a human-readable reason (the exception, the limit, the signal);
            empty for ``ok``.
        value: the job's JSON result when ``outcome`` is ``ok`` (a python job's
            return value, a pipeline job's ``RunTrace`` data); for a pipeline job
            that failed inside the executor, the trace is still returned.
        isolation: the isolation actually achieved.
        wall_ms: wall-clock milliseconds from spawn request to cleanup.
        usage: LLM usage and CPU of the evaluation.
    """

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    message: str = ""
    value: Any = None
    isolation: Isolation
    wall_ms: float = Field(default=0.0, ge=0)
    usage: SandboxUsage = Field(default_factory=SandboxUsage)

    @property
    def ok(self) -> bool:
        """True when the candidate ran to completion within its limits."""
        return self.outcome is Outcome.OK
