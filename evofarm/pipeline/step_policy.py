"""Per-step policies the executor enforces from pipeline_ex options.

- **Own wall limit** (:func:`own_timeout_s`): a Claude step's
  ``claude_options.timeout_ms`` (else ``defaults.claude_options.timeout_ms``),
  a gemini step's ``timeout_ms`` and a nested ``pipeline`` step's
  ``config.timeout_seconds``. It can only
  lower the runtime's ``step_timeout_s``, never raise it.
- **LLM call retries** (:func:`retry_policy`): with ``defaults.retry_on_error:
  true`` or a ``claude_options.retry_config``, a provider failure of an LLM call
  is retried ``retry_config.max_retries`` times (default 3) with its
  ``backoff_strategy`` (linear or exponential, default exponential) before it
  propagates. Configuration errors and replay misses are never retried: they
  would fail again. ``claude_robust`` has its own retry loop and opts out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from evofarm.errors import ProviderConfigError, ReplayMiss
from evofarm.pipeline.schema import Defaults, PipelineStep, StepBase

DEFAULT_RETRIES: Final = 3
BACKOFF_BASE_S: Final = 0.5
MAX_BACKOFF_S: Final = 30.0

NOT_RETRIED: Final = (ProviderConfigError, ReplayMiss)
"""Provider errors that no retry can heal (misconfiguration, a replay miss)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently an LLM call is retried."""

    retries: int
    strategy: str | None = None

    def delay_s(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based)."""
        return backoff_s(self.strategy, attempt)


def backoff_s(strategy: str | None, attempt: int, base_s: float | None = None) -> float:
    """``base_s`` (default ``BACKOFF_BASE_S``; ``retry_config.base_delay_ms``) times
    ``attempt`` (linear) or ``2**(attempt-1)`` (otherwise), at most ``MAX_BACKOFF_S``."""
    factor = float(attempt) if strategy == "linear" else 2.0 ** (attempt - 1)
    base = BACKOFF_BASE_S if base_s is None else base_s
    return min(base * factor, MAX_BACKOFF_S)


def claude_option(step: StepBase, defaults: Defaults | None, key: str) -> Any:
    """A ``claude_options`` value of a Claude-family step (its own, else the
    pipeline defaults'); None for other steps or when unset."""
    if not hasattr(step, "claude_options"):
        return None
    for options in (step.claude_options, defaults.claude_options if defaults else None):
        value = getattr(options, key, None) if options is not None else None
        if value is not None:
            return value
    return None


def own_timeout_s(step: StepBase, defaults: Defaults | None) -> float | None:
    """The step's own wall limit in seconds, or None (see the module docstring)."""
    if isinstance(step, PipelineStep):
        seconds = step.config.timeout_seconds if step.config else None
        return float(seconds) if seconds is not None else None
    timeout_ms = getattr(step, "timeout_ms", None)  # gemini steps' own key
    if timeout_ms is None:
        timeout_ms = claude_option(step, defaults, "timeout_ms")
    return timeout_ms / 1000.0 if timeout_ms is not None else None


def retry_policy(step: StepBase, defaults: Defaults | None) -> RetryPolicy | None:
    """How the step's LLM calls are retried, or None for no retries."""
    config = claude_option(step, defaults, "retry_config")
    if config is None and not (defaults and defaults.retry_on_error):
        return None
    retries = getattr(config, "max_retries", None) or DEFAULT_RETRIES
    return RetryPolicy(retries, getattr(config, "backoff_strategy", None))
