"""Typed settings, read from ``EVOFARM_*`` environment variables (and ``.env``).

Settings are read once per process through :func:`get_settings`; tests that change
the environment call ``get_settings.cache_clear()``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide configuration. Every field maps to ``EVOFARM_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="EVOFARM_", extra="ignore")

    # Farm. With no broker URL, `evofarm run` starts the embedded farm.
    broker_url: str | None = None
    redis_url: str | None = None
    state_dir: Path = Path(".evofarm")

    # Anthropic provider. The SDK's own variable names are honoured too.
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("EVOFARM_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EVOFARM_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"),
    )
    anthropic_timeout_s: float = 60.0
    anthropic_max_retries: int = 4
    # pipeline_ex model aliases -> concrete model ids.
    model_haiku: str = "claude-haiku-4-5"
    model_sonnet: str = "claude-sonnet-4-6"  # 4-5 is end-of-life on 2026-11-30
    model_opus: str = "claude-opus-4-1"
    default_claude_model: str = "sonnet"

    # Gemini provider (optional extra).
    gemini_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("EVOFARM_GEMINI_API_KEY", "GEMINI_API_KEY"),
    )
    default_gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None
    gemini_timeout_s: float = 60.0
    gemini_max_retries: int = 4

    # Retry timing of the HTTP providers: base * 2**attempt with jitter, at most
    # cap; a server's retry-after is honoured up to retry_after_cap.
    provider_backoff_base_s: float = 0.5
    provider_backoff_cap_s: float = 20.0
    provider_retry_after_cap_s: float = 60.0

    # Wrappers around every provider a campaign's candidates use (built per
    # process by evofarm.campaign.provider_stack). The response cache answers
    # repeated deterministic calls (temperature 0, or any call to a deterministic
    # provider such as mock); off with EVOFARM_RESPONSE_CACHE=false.
    response_cache: bool = True
    # On a farm, answers are shared by every worker and campaign through Redis
    # (evofarm.fleet.response_cache): kept this long, at most this many.
    response_cache_ttl_s: float = Field(default=86400.0, gt=0)
    response_cache_max_entries: int = Field(default=10000, ge=1)
    # Evaluations shared by every campaign of a farm (evofarm.campaign.evaluation_cache).
    evaluation_cache_ttl_s: float = Field(default=7 * 86400.0, gt=0)
    evaluation_cache_max_entries: int = Field(default=20000, ge=1)
    # --- the fleet's LLM economy (evofarm.fleet, evofarm.campaign.provider_stack) ---
    # Rate limits per provider and model, enforced fleet-wide on a farm (one
    # Redis token bucket each) and per process in-process, e.g.
    # EVOFARM_RATE_LIMITS='{"anthropic": {"requests_per_minute": 600,
    #   "input_tokens_per_minute": 400000, "output_tokens_per_minute": 80000,
    #   "models": {"claude-opus-4-1": {"requests_per_minute": 50}}}}'.
    # Validated by evofarm.providers.rate_limits; a provider not named is not limited.
    rate_limits: str = ""
    # Longest a call waits for its turn before the task is retried (holds a slot).
    rate_limit_max_wait_s: float = 60.0
    # Share of each limit the limiters hold back: calls reach the provider at
    # uneven delays after their turn, and a sliding-window provider rejects early ones.
    rate_limit_margin: float = Field(default=0.1, ge=0, lt=1)

    # Agent workflow (issue 10): where a worker resolves the suite names that
    # sandboxed `pipeline_executor` steps ask it to score on; unset: the
    # campaign suite's folder, else pipelines/suites below the working directory.
    suites_dir: Path | None = None

    # Operations (issue 12). Flower's basic auth, "user:password[,user:password]";
    # `evofarm flower` refuses a non-loopback address without it, and on loopback
    # makes a one-off password when it is unset.
    flower_basic_auth: SecretStr | None = None

    # Replay provider.
    replay_cassette: Path | None = None
    replay_mode: str = "replay"  # replay | record | replay_or_record


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
