"""Offline providers: the deterministic mock and a scripted provider for tests.

:class:`MockProvider` answers like pipeline_ex's mock mode: ``Mock response for:
<first 50 characters of the prompt>...`` (``Mock Gemini response for: ...`` in the
gemini style). Token counts are a fixed function of the text (about four characters
per token), so traces, budgets and fitness are reproducible. A request with a
``response_schema`` gets a JSON value that validates against it.

:class:`ScriptedProvider` returns a queue of scripted replies (or the value of a
function of the request), raising scripted errors in between; tests use it to
drive retries and failures.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Literal

from evofarm.errors import ProviderConfigError
from evofarm.providers.base import (
    LLMRequest,
    LLMResponse,
    ProviderOptions,
    Usage,
    register_provider,
    slot_family,
)
from evofarm.providers.pricing import PriceTable, cost_of
from evofarm.providers.schema_sample import sample_for_schema

if TYPE_CHECKING:
    from evofarm.settings import Settings

# pipeline_ex echoes the first 50 characters of the prompt.
_ECHO_CHARS = 50
_CHARS_PER_TOKEN = 4

MockStyle = Literal["claude", "gemini"]


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate: ceil(len/4), 0 for empty text."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


def request_input_tokens(request: LLMRequest) -> int:
    """The estimated input tokens of ``request`` (system prompt and every turn)."""
    total = estimate_tokens(request.system or "")
    total += sum(estimate_tokens(m.content) for m in request.messages)
    return max(total, 1)


def mock_text(prompt: str, style: MockStyle = "claude") -> str:
    """pipeline_ex's mock answer for ``prompt``."""
    head = "Mock Gemini response for: " if style == "gemini" else "Mock response for: "
    return f"{head}{prompt[:_ECHO_CHARS]}..."


class MockProvider:
    """Deterministic, offline, thread-safe. The same request gives the same response.

    Args:
        style: ``claude`` or ``gemini`` wording of the default answer.
        responses: Scripted answers: the first key (in order) that occurs in the
            prompt selects its text, like pipeline_ex's ``set_response_pattern``.
        latency_s: Seconds each call waits before answering (benchmarks, timeout
            tests); the wait releases the GIL, so concurrent calls overlap.
        prices: Price table for ``cost_usd``; the default table if None.
        name: Provider name reported in responses.
    """

    # Same request, same answer: response caches may cache every request.
    deterministic = True

    def __init__(
        self,
        *,
        style: MockStyle = "claude",
        responses: Mapping[str, str] | None = None,
        latency_s: float = 0.0,
        prices: PriceTable | None = None,
        name: str = "mock",
    ) -> None:
        if latency_s < 0:
            raise ProviderConfigError(f"mock latency_s must be >= 0, got {latency_s}")
        self.name = name
        self.style: MockStyle = style
        self.latency_s = latency_s
        self._responses = dict(responses or {})
        self._prices = prices
        self._lock = threading.Lock()
        self._calls = 0

    @property
    def calls(self) -> int:
        """How many requests this provider has answered."""
        with self._lock:
            return self._calls

    def answer_text(self, request: LLMRequest) -> str:
        """The text this provider answers ``request`` with (no waiting, no counting)."""
        prompt = request.prompt_text
        for pattern, text in self._responses.items():
            if pattern in prompt:
                return text
        if request.response_schema is not None:
            return json.dumps(sample_for_schema(request.response_schema), sort_keys=True)
        return mock_text(prompt, self.style)

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Answer ``request`` deterministically; never raises for a valid request."""
        start = time.perf_counter()
        if self.latency_s:
            time.sleep(self.latency_s)
        text = self.answer_text(request)
        usage = Usage(
            input_tokens=request_input_tokens(request),
            output_tokens=min(estimate_tokens(text), request.max_tokens),
        )
        with self._lock:
            self._calls += 1
        return LLMResponse(
            text=text,
            usage=usage,
            model=request.model,
            provider=self.name,
            latency_s=time.perf_counter() - start,
            cost_usd=cost_of(request.model, usage, self._prices),
        )


ScriptItem = str | LLMResponse | BaseException
ScriptFunction = Callable[[LLMRequest], str | LLMResponse]


class ScriptedProvider:
    """Replies from a script, in order; records every request. Thread-safe.

    Each script item is a text (wrapped in a response with mock token counts), a
    full :class:`LLMResponse` (returned as is), or an exception (raised). With
    ``function`` instead of (or after) the queue, the function's value answers.

    Args:
        script: Items consumed one per call.
        function: Answers once the script is used up (or always, with no script).
        name: Provider name reported in responses.

    Raises:
        ProviderConfigError: from ``complete`` when the script is used up and
            there is no function.
    """

    def __init__(
        self,
        script: Iterable[ScriptItem] = (),
        *,
        function: ScriptFunction | None = None,
        name: str = "scripted",
    ) -> None:
        self.name = name
        self._queue: deque[ScriptItem] = deque(script)
        self._function = function
        self._lock = threading.Lock()
        self._requests: list[LLMRequest] = []

    @property
    def requests(self) -> list[LLMRequest]:
        """A copy of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def push(self, *items: ScriptItem) -> None:
        """Append items to the script."""
        with self._lock:
            self._queue.extend(items)

    def complete(self, request: LLMRequest) -> LLMResponse:
        """The next scripted reply (or raise the next scripted error)."""
        with self._lock:
            self._requests.append(request)
            item: ScriptItem | None = self._queue.popleft() if self._queue else None
        if item is None:
            if self._function is None:
                raise ProviderConfigError(
                    f"scripted provider {self.name!r} has no reply left for request "
                    f"#{len(self.requests)} ({request.prompt_text[:40]!r})"
                )
            item = self._function(request)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, LLMResponse):
            return item
        usage = Usage(
            input_tokens=request_input_tokens(request), output_tokens=estimate_tokens(item)
        )
        return LLMResponse(text=item, usage=usage, model=request.model, provider=self.name)


def _factory(settings: Settings, options: ProviderOptions) -> MockProvider:
    """The ``mock`` provider: worded as the slot's family answers."""
    del settings
    return MockProvider(style="gemini" if slot_family(options.slot) == "gemini" else "claude")


register_provider("mock", _factory)
