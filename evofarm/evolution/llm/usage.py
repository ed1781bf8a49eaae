"""Usage of proposer calls: what a breed task carries back for the campaign's accounts.

Counted by the worker from what the provider returned (never from a trace a
pipeline wrote): real calls add tokens and cost; a reply served from the
response cache costs nothing and is counted apart (``cached_calls``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RoleUsage(BaseModel):
    """Tokens, cost and calls of one role (``evaluation``, ``proposer``, ``judge``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    calls: int = Field(default=0, ge=0)
    cached_calls: int = Field(default=0, ge=0)

    @property
    def tokens(self) -> int:
        """Billed input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: RoleUsage) -> RoleUsage:
        return RoleUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 9),
            calls=self.calls + other.calls,
            cached_calls=self.cached_calls + other.cached_calls,
        )

    @property
    def empty(self) -> bool:
        """No call at all (real or cached)."""
        return self.calls == 0 and self.cached_calls == 0


class RoleTotal(BaseModel):
    """One role's entry of a summary's ``usage_by_role`` (totals of billed usage)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    calls: int | None = Field(default=None, ge=0)
    cached_calls: int | None = Field(default=None, ge=0)
