"""Serve a sandboxed child's LLM calls from the worker, off the parent's loop.

Each call runs on its own daemon thread so the parent keeps enforcing the wall
timeout and the output cap while a provider is slow. A finished call wakes the
loop through a pipe; the loop then collects the reply with :meth:`LLMRelay.ready`.
Usage is accounted in :meth:`ready`, on the loop's thread.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from typing import Any

from evofarm.errors import ProviderError, ProviderUnavailable
from evofarm.providers.base import LLMRequest, LLMResponse, Provider
from evofarm.sandbox.wire.llm_frames import parse_llm_frame
from evofarm.sandbox.wire.outcome import SandboxUsage


def llm_error(call_id: Any, error: str, message: str) -> dict[str, Any]:
    """The reply that makes the child's proxy raise ``error`` (a class name)."""
    return {"type": "llm_error", "id": call_id, "error": error, "message": message}


class _Waker:
    """A pipe that threads write a byte to; never written after :meth:`close`
    (its descriptor number could by then belong to another file)."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._lock = threading.Lock()
        self._closed = False

    def wake(self) -> None:
        with self._lock:
            if not self._closed:
                with contextlib.suppress(BlockingIOError):  # already awake
                    os.write(self._write_fd, b"!")

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.read_fd, 4096):
                pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            os.close(self._write_fd)
            os.close(self.read_fd)


class LLMRelay:
    """The parent's side of the child's LLM calls. Driven by one thread (the
    loop); the provider calls themselves run on helper threads.

    Args:
        llm: the worker's provider; ``None`` refuses every call.
        max_calls: calls served; later ones are refused.
        usage: the evaluation's usage record, updated as replies are collected.
    """

    def __init__(self, llm: Provider | None, max_calls: int, usage: SandboxUsage) -> None:
        self.llm = llm
        self.max_calls = max_calls
        self.usage = usage
        self._waker = _Waker()
        self._done: queue.SimpleQueue[tuple[Any, LLMResponse | BaseException]] = queue.SimpleQueue()

    @property
    def wake_fd(self) -> int:
        """Readable when a reply is ready."""
        return self._waker.read_fd

    def submit(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Start serving one ``llm`` message; return a reply at once when the
        call is refused (no provider, max calls reached).

        Raises:
            BadFrame: the frame breaks the wire's schema or limits
                (:mod:`evofarm.sandbox.wire.llm_frames`); the caller ends the
                evaluation as ``forbidden``.
        """
        call_id, request = parse_llm_frame(message)
        if self.llm is None:
            return llm_error(call_id, "ProviderConfigError", "no LLM provider in this sandbox")
        if self.usage.llm_calls >= self.max_calls:
            return llm_error(call_id, "ProviderError", f"max_llm_calls ({self.max_calls}) reached")
        self.usage.llm_calls += 1
        llm = self.llm
        thread = threading.Thread(
            target=self._call, args=(llm, request, call_id), name="sandbox-llm", daemon=True
        )
        thread.start()
        return None

    def _call(self, llm: Provider, request: LLMRequest, call_id: Any) -> None:
        outcome: LLMResponse | BaseException
        try:
            outcome = llm.complete(request)
        except BaseException as exc:  # handed to the loop's thread, which decides
            outcome = exc
        self._done.put((call_id, outcome))
        self._waker.wake()

    def ready(self) -> list[dict[str, Any]]:
        """Replies of the calls that finished, in order.

        Raises:
            ProviderUnavailable: the provider failed for good (infrastructure).
            Exception: a provider bug, unchanged.
        """
        self._waker.drain()
        replies: list[dict[str, Any]] = []
        while True:
            try:
                call_id, outcome = self._done.get_nowait()
            except queue.Empty:
                return replies
            if isinstance(outcome, ProviderUnavailable):
                raise outcome
            if isinstance(outcome, ProviderError):
                replies.append(llm_error(call_id, type(outcome).__name__, str(outcome)))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                self.usage.input_tokens += outcome.usage.input_tokens
                self.usage.output_tokens += outcome.usage.output_tokens
                self.usage.cost_usd += outcome.cost_usd
                replies.append(
                    {
                        "type": "llm_response",
                        "id": call_id,
                        "response": outcome.model_dump(mode="json"),
                    }
                )

    def close(self) -> None:
        """Stop waking the loop; calls still running finish unheard."""
        self._waker.close()
