"""The one provider interface every LLM backend implements.

A :class:`LLMRequest` is plain data (JSON-serialisable), so it can cross the pipe
from a sandboxed child to its worker, be hashed for the response cache and the
replay cassette, and be logged. Providers are synchronous and thread-safe: the
worker runs a genome's cases concurrently on threads and shares one provider.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["user", "assistant"]
    content: str


class LLMRequest(BaseModel):
    """What a step asks of a model. ``model`` may be an alias (haiku/sonnet/opus)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    max_tokens: int = Field(default=1024, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=1)
    stop_sequences: tuple[str, ...] = ()
    # Structured output / function calling: a JSON schema the answer must meet.
    response_schema: dict[str, Any] | None = None

    @classmethod
    def from_prompt(cls, model: str, prompt: str, **params: Any) -> LLMRequest:
        """A single-turn request."""
        return cls(model=model, messages=(Message(role="user", content=prompt),), **params)

    @property
    def prompt_text(self) -> str:
        """All user turns joined: what mock providers echo."""
        return "\n".join(m.content for m in self.messages if m.role == "user")

    def cache_key(self) -> str:
        """A stable hash of everything that determines the answer."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


class Usage(BaseModel):
    """Token counts of one call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class LLMResponse(BaseModel):
    """What came back: text, usage, the concrete model, latency and cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    usage: Usage = Usage()
    model: str
    provider: str
    latency_s: float = 0.0
    cost_usd: float = 0.0
    retries: int = 0
    cached: bool = False


@runtime_checkable
class Provider(Protocol):
    """An LLM backend. Implementations must be thread-safe.

    Raises:
        ProviderConfigError: the request cannot be served as configured.
        ProviderUnavailable: transient failures persisted past the retries.
        ReplayMiss: replay-only mode has no recording of the request.
    """

    name: str

    def complete(self, request: LLMRequest) -> LLMResponse: ...
