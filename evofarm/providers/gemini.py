"""The Gemini provider: google-genai behind the optional ``gemini`` extra.

``google-genai`` is imported when a provider is built, never at module import, so
evofarm works without it and a pipeline that never reaches a gemini slot never
needs it. Retries follow the Anthropic provider (own loop, counted): 408, 429
and 5xx and transport errors are retried with :class:`BackoffPolicy`; other 4xx
raise :class:`ProviderConfigError`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.providers.base import (
    LLMRequest,
    LLMResponse,
    ProviderOptions,
    Usage,
    register_provider,
)
from evofarm.providers.pricing import PriceTable, cost_of
from evofarm.providers.retry import BackoffPolicy
from evofarm.settings import Settings

_INSTALL_HINT = "install the extra: pip install 'evofarm[gemini]'"


def _import(module: str) -> ModuleType:
    """Import part of google-genai, or explain how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ProviderConfigError(
            f"the gemini provider needs the google-genai package ({err}); {_INSTALL_HINT}"
        ) from err


def _transport_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


class GeminiProvider:
    """Gemini through ``google.genai.Client.models.generate_content``. Thread-safe.

    Args:
        api_key: The Gemini API key.
        base_url: API root override (None: the SDK default).
        timeout_s: Per-attempt timeout.
        backoff: Retry count and delays.
        prices: Price table for ``cost_usd``; the default table if None.
        sleep: How to wait between attempts.

    Raises:
        ProviderConfigError: no key, or google-genai is not installed.
    """

    name = "gemini"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        backoff: BackoffPolicy | None = None,
        prices: PriceTable | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ProviderConfigError(
                "no Gemini API key: set EVOFARM_GEMINI_API_KEY or GEMINI_API_KEY"
            )
        genai = _import("google.genai")
        self._types = _import("google.genai.types")
        self._errors = _import("google.genai.errors")
        # google-genai 2+ talks through httpx2, older releases through httpx.
        self._transport_errors = _transport_errors()
        self.timeout_s = timeout_s
        self.backoff = backoff or BackoffPolicy()
        self._prices = prices
        self._sleep = sleep
        # attempts=1 turns the SDK's own retries off: this class counts its own.
        http_options = self._types.HttpOptions(
            base_url=base_url,
            timeout=int(timeout_s * 1000),
            retry_options=self._types.HttpRetryOptions(attempts=1),
        )
        self._client: Any = genai.Client(api_key=api_key, http_options=http_options)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, prices: PriceTable | None = None
    ) -> GeminiProvider:
        """A provider configured from ``settings``.

        Raises:
            ProviderConfigError: no key, or google-genai is not installed.
        """
        key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else ""
        return cls(
            key,
            base_url=settings.gemini_base_url,
            timeout_s=settings.gemini_timeout_s,
            backoff=BackoffPolicy.from_settings(settings, max_retries=settings.gemini_max_retries),
            prices=prices,
        )

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Send ``request`` to Gemini, retrying transient failures.

        Raises:
            ProviderConfigError: a non-retryable 4xx.
            ProviderUnavailable: the retries ran out.
        """
        contents = [
            {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
            for m in request.messages
        ]
        config = self._config(request)
        start = time.perf_counter()
        retries = 0
        while True:
            try:
                result = self._client.models.generate_content(
                    model=request.model, contents=contents, config=config
                )
                break
            except self._errors.APIError as err:
                code = int(getattr(err, "code", 0) or 0)
                if not (code in (408, 429) or code >= 500):
                    raise ProviderConfigError(
                        f"gemini rejected the request for model {request.model!r} "
                        f"(HTTP {code}): {getattr(err, 'message', err)}"
                    ) from err
                reason, failure = f"HTTP {code}: {getattr(err, 'message', err)}", err
            except self._transport_errors as err:
                reason, failure = f"transport error: {err}", err
            if retries >= self.backoff.max_retries:
                raise ProviderUnavailable(
                    f"gemini: model {request.model!r} still failing after {retries} "
                    f"retries; last error: {reason}"
                ) from failure
            self._sleep(self.backoff.delay(retries))
            retries += 1
        meta = getattr(result, "usage_metadata", None)
        usage = Usage(
            input_tokens=int(getattr(meta, "prompt_token_count", 0) or 0),
            output_tokens=int(getattr(meta, "candidates_token_count", 0) or 0),
        )
        return LLMResponse(
            text=str(getattr(result, "text", "") or ""),
            usage=usage,
            model=request.model,
            provider=self.name,
            latency_s=time.perf_counter() - start,
            cost_usd=cost_of(request.model, usage, self._prices),
            retries=retries,
        )

    def _config(self, request: LLMRequest) -> Any:
        options: dict[str, Any] = {"max_output_tokens": request.max_tokens}
        if request.system:
            options["system_instruction"] = request.system
        for ours, theirs in (
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("top_k", "top_k"),
        ):
            value = getattr(request, ours)
            if value is not None:
                options[theirs] = value
        if request.stop_sequences:
            options["stop_sequences"] = list(request.stop_sequences)
        if request.response_schema is not None:
            options["response_mime_type"] = "application/json"
            options["response_json_schema"] = request.response_schema
        return self._types.GenerateContentConfig(**options)


def _factory(settings: Settings, options: ProviderOptions) -> GeminiProvider:
    """The ``gemini`` provider (registered even without google-genai; fails on build)."""
    del options
    return GeminiProvider.from_settings(settings)


register_provider("gemini", _factory)
