"""The provider a sandboxed child uses: every call goes over the pipe.

The child holds no credentials and no sockets; the parent owns the real
provider, its rate limiter, cache and budget (see :mod:`evofarm.sandbox.runner`).
"""

from __future__ import annotations

import threading

from evofarm import errors
from evofarm.providers.base import LLMRequest, LLMResponse
from evofarm.sandbox import channel

# Errors the parent may forward, by class name; anything else is ProviderError.
_FORWARDABLE: dict[str, type[errors.ProviderError]] = {
    "ProviderError": errors.ProviderError,
    "ProviderConfigError": errors.ProviderConfigError,
    "ProviderUnavailable": errors.ProviderUnavailable,
    "ReplayMiss": errors.ReplayMiss,
}
RESPONSE_CAP = 64 * 1024 * 1024


class PipeProvider:
    """A :class:`~evofarm.providers.base.Provider` that asks the parent.

    Thread-safe: one request is in flight at a time (a lock serialises the
    request/response pair on the shared pipes).
    """

    name = "sandbox"

    def __init__(self, to_parent: int, from_parent: int) -> None:
        self._out = to_parent
        self._in = from_parent
        self._lock = threading.Lock()
        self._next_id = 0

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Forward ``request`` to the parent and wait for its answer.

        Raises:
            ProviderError: (or the subclass the parent named) the parent's
                provider failed or refused the call.
        """
        with self._lock:
            self._next_id += 1
            call_id = self._next_id
            channel.send(
                self._out,
                {"type": "llm", "id": call_id, "request": request.model_dump(mode="json")},
            )
            reply = channel.recv(self._in, RESPONSE_CAP)
        if reply is None or reply.get("id") != call_id:
            raise errors.ProviderError("the sandbox lost its connection to the worker")
        if reply.get("type") == "llm_error":
            cls = _FORWARDABLE.get(str(reply.get("error")), errors.ProviderError)
            raise cls(str(reply.get("message", "LLM call refused")))
        return LLMResponse.model_validate(reply.get("response"))
