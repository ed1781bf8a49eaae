"""The Anthropic provider: the official SDK and the Messages API.

The SDK client is created with ``max_retries=0`` and this module runs the retry
loop itself (see :mod:`evofarm.providers.retry`): the SDK's loop honours any
``retry-after`` without bound, uses fixed delays and does not report how many
retries a call needed, and the trace wants that number.

Sampling parameters (temperature, top_p, top_k) are sent only when the installed
SDK's ``messages.create`` accepts them: recent releases target an API version
without them. They still take part in the request's cache key.

Retried (then :class:`ProviderUnavailable`): 408, 409, 429, 5xx and 529,
connection errors, client timeouts and malformed response bodies. Not retried
(:class:`ProviderConfigError`): every other 4xx, e.g. 400 bad request, 401 bad
key, 403, 404 unknown model.

Fleet-wide pauses: a 429 or 529 is reported to :attr:`AnthropicProvider.on_rate_limited`
when a rate limiter set it (``retry-after`` seconds, 0 when absent); the hook
pauses the provider for every worker and blocks until the retry's turn in the
limiter's bucket, which replaces this provider's own backoff for those two
statuses (the bucket spaces every worker's retries). Without a limiter, the
backoff with jitter applies as before.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import anthropic

from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.providers.aliases import alias_map
from evofarm.providers.base import LLMRequest, LLMResponse, Usage
from evofarm.providers.pricing import PriceTable, cost_of
from evofarm.providers.retry import BackoffPolicy, parse_retry_after
from evofarm.settings import Settings

_RETRYABLE_4XX = frozenset({408, 409, 429})

# Recent SDK releases dropped the sampling controls from ``messages.create`` (the
# API version they target has none); older ones take them. Send what this SDK
# accepts rather than fail every call on an unexpected keyword.
_SAMPLING_PARAMS = tuple(
    name
    for name in ("temperature", "top_p", "top_k")
    if name in inspect.signature(anthropic.resources.Messages.create).parameters
)


class AnthropicProvider:
    """Claude through the Messages API. Thread-safe (one shared SDK client).

    Args:
        api_key: The Anthropic API key.
        base_url: API root (the fake server's ``base_url`` in tests); SDK default if None.
        timeout_s: Per-attempt timeout.
        backoff: Retry count and delays.
        aliases: Model alias -> id (haiku/sonnet/opus).
        prices: Price table for ``cost_usd``; the default table if None.
        sleep: How to wait between attempts (tests record the delays).
    """

    name = "anthropic"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        backoff: BackoffPolicy | None = None,
        aliases: Mapping[str, str] | None = None,
        prices: PriceTable | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ProviderConfigError(
                "no Anthropic API key: set EVOFARM_ANTHROPIC_API_KEY or ANTHROPIC_API_KEY"
            )
        if timeout_s <= 0:
            raise ProviderConfigError(f"anthropic timeout must be > 0 s, got {timeout_s}")
        self.backoff = backoff or BackoffPolicy()
        self.timeout_s = timeout_s
        self._aliases = dict(aliases or {})
        self._prices = prices
        self._sleep = sleep
        #: Set by a rate limiter: ``(retry_after_s) -> seconds the fleet pause lasts``.
        self.on_rate_limited: Callable[[float], float] | None = None
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, prices: PriceTable | None = None
    ) -> AnthropicProvider:
        """A provider configured from ``settings`` (key, URL, timeout, retries, aliases).

        Raises:
            ProviderConfigError: no API key is configured.
        """
        key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else ""
        return cls(
            key,
            base_url=settings.anthropic_base_url,
            timeout_s=settings.anthropic_timeout_s,
            backoff=BackoffPolicy.from_settings(
                settings, max_retries=settings.anthropic_max_retries
            ),
            aliases=alias_map(settings),
            prices=prices,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Send ``request``; retry transient failures as documented in the module.

        Raises:
            ProviderConfigError: a non-retryable 4xx (bad request, key, model).
            ProviderUnavailable: the retries ran out.
        """
        model = self._aliases.get(request.model.strip().lower(), request.model)
        params = _message_params(request, model)
        start = time.perf_counter()
        retries = 0
        while True:
            try:
                message = self._client.messages.create(**params)
                break
            except anthropic.APIStatusError as err:
                status = err.status_code
                if not (status in _RETRYABLE_4XX or status >= 500):
                    raise ProviderConfigError(
                        f"anthropic rejected the request for model {model!r} "
                        f"(HTTP {status}): {_error_message(err)}"
                    ) from err
                retry_after = parse_retry_after(dict(err.response.headers))
                reason = f"HTTP {status}: {_error_message(err)}"
                hook = self.on_rate_limited
                if hook is not None and status in (429, 529) and retries < self.backoff.max_retries:
                    # The limiter pauses the fleet and waits for this retry's turn
                    # in the bucket (so retries do not add to a 429 storm).
                    hook(retry_after or 0.0)
                    retries += 1
                    continue
                failure: Exception = err
            except anthropic.APITimeoutError as err:
                retry_after, reason, failure = None, f"timed out after {self.timeout_s}s", err
            except anthropic.APIConnectionError as err:
                retry_after, reason, failure = None, f"connection failed: {err}", err
            except (anthropic.APIResponseValidationError, ValueError) as err:
                # A truncated or non-JSON body (proxy trouble): transient.
                retry_after, reason, failure = None, f"malformed response: {err}", err
            if retries >= self.backoff.max_retries:
                raise ProviderUnavailable(
                    f"anthropic: model {model!r} still failing after {retries} "
                    f"retries; last error: {reason}"
                ) from failure
            self._sleep(self.backoff.delay(retries, retry_after))
            retries += 1
        usage = Usage(
            input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens
        )
        text = "".join(
            block.text for block in message.content if getattr(block, "type", "") == "text"
        )
        return LLMResponse(
            text=text,
            usage=usage,
            model=message.model,
            provider=self.name,
            latency_s=time.perf_counter() - start,
            cost_usd=cost_of(message.model, usage, self._prices),
            retries=retries,
        )


def _message_params(request: LLMRequest, model: str) -> dict[str, Any]:
    """The Messages API keyword arguments for ``request``."""
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
    }
    system = request.system
    if request.response_schema is not None:
        # Portable across API versions: ask for the JSON in the system prompt; the
        # step validates the answer against the schema.
        instruction = (
            "Answer with a single JSON value, no prose and no code fences, that "
            "validates against this JSON schema:\n"
            + json.dumps(request.response_schema, sort_keys=True)
        )
        system = f"{system}\n\n{instruction}" if system else instruction
    if system:
        params["system"] = system
    for key in _SAMPLING_PARAMS:
        value = getattr(request, key)
        if value is not None:
            params[key] = value
    if request.stop_sequences:
        params["stop_sequences"] = list(request.stop_sequences)
    return params


def _error_message(err: anthropic.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(err.message)
