"""The one provider interface every LLM backend implements.

A :class:`LLMRequest` is plain data (JSON-serialisable), so it can cross the pipe
from a sandboxed child to its worker, be hashed for the response cache and the
replay cassette, and be logged. Providers are synchronous and thread-safe: the
worker runs a genome's cases concurrently on threads and shares one provider.

Two more interfaces live here, so that the pipeline language needs nothing else
from this package:

* :class:`ProviderSlots`: what a pipeline run calls, a slot name (``claude``,
  ``gemini``) resolved to a provider and model
  (:class:`~evofarm.providers.registry.ProviderSet` implements it);
* :data:`PROVIDERS`: the provider registry (kind ``provider``, entry-point group
  ``evofarm.providers``), name -> :data:`ProviderFactory`. Each provider module
  registers its own factory; it is the single source of provider names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, PlainValidator
from pydantic_core import PydanticCustomError

from evofarm.registry import Registry

if TYPE_CHECKING:
    from evofarm.settings import Settings


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


class ProviderSlots(Protocol):
    """Named provider slots: what the pipeline language calls (and only that).

    Implementations must be thread-safe and immutable: derived sets share nothing
    mutable with the set they came from except provider instances.
    """

    def with_overrides(
        self, overrides: Mapping[str, Any] | None, *, pin: bool = False
    ) -> ProviderSlots:
        """A set with some slots rebound (a pipeline's ``providers:`` mapping).

        Raises:
            ProviderConfigError: unknown provider or slot, malformed entry.
        """
        ...

    def complete(self, slot: str, request: LLMRequest) -> LLMResponse:
        """Send ``request`` to the provider of ``slot``, resolving its model.

        Raises:
            ProviderConfigError: unknown slot, no model, provider misconfigured.
            ProviderUnavailable: the provider's retries ran out.
            ReplayMiss: replay-only mode and no recording.
        """
        ...


@dataclass(frozen=True)
class ProviderOptions:
    """What a provider factory is told besides the settings.

    Attributes:
        slot: The slot the provider will serve (``claude``, ``gemini``, a custom
            one) or None; it picks e.g. the mock's wording.
        make: Builds another registered provider by name with the same settings
            and slot (a recording ``replay`` provider forwards to a real backend).
    """

    slot: str | None = None
    make: Callable[[str], Provider] | None = None


ProviderFactory = Callable[["Settings", ProviderOptions], Provider]
"""``(settings, options) -> Provider``; raises ``ProviderConfigError`` when the
provider cannot be built as configured (missing key, missing extra, no cassette)."""

BUILTIN_PROVIDER_MODULES: tuple[str, ...] = (
    "evofarm.providers.mock",
    "evofarm.providers.replay",
    "evofarm.providers.anthropic_factory",
    "evofarm.providers.gemini",
)

PROVIDERS: Registry[ProviderFactory] = Registry(
    "provider", "evofarm.providers", BUILTIN_PROVIDER_MODULES
)
"""Provider name -> factory: the single source of provider names."""


def register_provider(
    name: str, factory: ProviderFactory, *, replace: bool = False
) -> ProviderFactory:
    """Register ``factory`` as provider ``name`` and return it.

    Raises:
        ExtensionError: ``name`` is taken by another factory and ``replace`` is false.
    """
    return PROVIDERS.register(name, factory, replace=replace)


def slot_family(slot: str | None) -> str:
    """Which real backend family a slot (or model id) stands for: ``gemini`` or ``claude``."""
    return "gemini" if slot is not None and slot.startswith("gemini") else "claude"


def _or_list(names: list[str]) -> str:
    quoted = [repr(n) for n in names]
    if len(quoted) <= 1:
        return "".join(quoted) or "a registered provider"
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _registered_provider(value: Any) -> str:
    names = PROVIDERS.names()
    if not isinstance(value, str) or value not in names:
        # Worded as the Literal it replaces ("Input should be 'a', 'b' or 'c'"), so
        # schema messages read "expected 'a', 'b' or 'c', got ...".
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": _or_list(names)}
        )
    return value


ProviderName = Annotated[str, PlainValidator(_registered_provider)]
"""A pydantic field type: the name of a registered provider (checked on validation)."""
