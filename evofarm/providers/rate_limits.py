"""Rate-limit configuration: per provider, and per model inside a provider.

``EVOFARM_RATE_LIMITS`` holds JSON such as::

    {"anthropic": {"requests_per_minute": 600, "input_tokens_per_minute": 400000,
                   "output_tokens_per_minute": 80000,
                   "models": {"claude-opus-4-1": {"requests_per_minute": 50}}}}

A call to a model passes every bucket that applies: its provider's and, when
listed, its model's. A campaign's ``rate_limits:`` (same shape) may only lower
these: :func:`lowered` takes the smaller of each figure and refuses a raise.
This module is pure configuration; the limiters are
:class:`~evofarm.providers.ratelimit.TokenBucketLimiter` (one process) and
``evofarm.fleet.ratelimit.RedisRateLimiter`` (the fleet).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evofarm.errors import ProviderConfigError

SETTING = "EVOFARM_RATE_LIMITS"


class RateLimit(BaseModel):
    """Per-minute limits of one bucket (None: that dimension is not limited)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: float | None = Field(default=None, gt=0)
    input_tokens_per_minute: float | None = Field(default=None, gt=0)
    output_tokens_per_minute: float | None = Field(default=None, gt=0)

    @property
    def empty(self) -> bool:
        return all(
            v is None
            for v in (
                self.requests_per_minute,
                self.input_tokens_per_minute,
                self.output_tokens_per_minute,
            )
        )

    def per_second(self) -> tuple[float, float, float]:
        """(requests, input tokens, output tokens) per second; 0 means unlimited."""
        return tuple(  # type: ignore[return-value]
            (v or 0.0) / 60.0
            for v in (
                self.requests_per_minute,
                self.input_tokens_per_minute,
                self.output_tokens_per_minute,
            )
        )

    def lowered_by(self, other: RateLimit, where: str) -> RateLimit:
        """The smaller of each figure; ``other`` may not raise or add a limit away.

        Raises:
            ProviderConfigError: ``other`` raises a figure (names ``where``).
        """
        merged: dict[str, float | None] = {}
        for name in RateLimit.model_fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None and mine is not None and theirs > mine:
                raise ProviderConfigError(
                    f"rate_limits.{where}.{name}: a campaign may only lower the farm's "
                    f"limit ({mine:g}), not raise it to {theirs:g}"
                )
            merged[name] = theirs if mine is None else (mine if theirs is None else theirs)
        return RateLimit(**merged)


class ProviderLimits(RateLimit):
    """A provider's limits and, under ``models``, limits of single models."""

    models: dict[str, RateLimit] = Field(default_factory=dict)


RateLimits = dict[str, ProviderLimits]


def parse_rate_limits(data: str | Mapping[str, object] | None) -> RateLimits:
    """Validate the setting's JSON (or an already parsed mapping).

    Raises:
        ProviderConfigError: not JSON, or not the documented shape (names the setting).
    """
    if data is None or data == "":
        return {}
    try:
        raw = json.loads(data) if isinstance(data, str) else dict(data)
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object of provider -> limits")
        return {str(k): ProviderLimits.model_validate(v) for k, v in raw.items()}
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        detail = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}" if first else str(exc)
        raise ProviderConfigError(f"{SETTING}: {detail}") from None


def lowered(base: RateLimits, campaign: RateLimits) -> RateLimits:
    """The farm's limits lowered by a campaign's.

    Raises:
        ProviderConfigError: the campaign raises a limit.
    """
    out = dict(base)
    for provider, theirs in campaign.items():
        mine = base.get(provider, ProviderLimits())
        top = RateLimit.model_validate(mine.model_dump(exclude={"models"})).lowered_by(
            RateLimit.model_validate(theirs.model_dump(exclude={"models"})), provider
        )
        models = dict(mine.models)
        for model, limit in theirs.models.items():
            models[model] = models.get(model, RateLimit()).lowered_by(
                limit, f"{provider}.models.{model}"
            )
        out[provider] = ProviderLimits(**top.model_dump(), models=models)
    return out


def buckets_for(limits: RateLimits, provider: str, model: str) -> list[tuple[str, RateLimit]]:
    """The buckets a call to ``provider``/``model`` passes: ``(scope, limit)``.

    The scope is ``provider`` or ``provider/model``; empty limits are left out.
    A model entry matches the exact id or, failing that, the longest prefix.
    """
    entry = limits.get(provider)
    if entry is None:
        return []
    found: list[tuple[str, RateLimit]] = []
    top = RateLimit.model_validate(entry.model_dump(exclude={"models"}))
    if not top.empty:
        found.append((provider, top))
    match = entry.models.get(model)
    key = model
    if match is None:
        for name in sorted(entry.models, key=len, reverse=True):
            if model.startswith(name):
                match, key = entry.models[name], name
                break
    if match is not None and not match.empty:
        found.append((f"{provider}/{key}", match))
    return found
