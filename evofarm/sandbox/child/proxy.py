"""The provider a sandboxed child uses: every call goes over the pipe.

The child holds no credentials and no sockets; the parent owns the real
provider, its rate limiter, cache and budget (see :mod:`evofarm.sandbox.parent.runner`).

Calls from many threads (the cases of a batch) are multiplexed: each request
carries an id, and replies, which the parent sends as they finish (in any
order), are matched to their callers by id. One waiting caller at a time reads
the pipe (leader/follower: it dispatches every reply it reads and hands the
reading over when its own has come), so no extra thread is needed, which
matters under ``RLIMIT_NPROC``.
"""

from __future__ import annotations

import threading
from typing import Any

from evofarm import errors
from evofarm.providers.base import LLMRequest, LLMResponse
from evofarm.sandbox.wire import channel

# Errors the parent may forward, by class name; anything else is ProviderError.
_FORWARDABLE: dict[str, type[errors.ProviderError]] = {
    "ProviderError": errors.ProviderError,
    "ProviderConfigError": errors.ProviderConfigError,
    "ProviderUnavailable": errors.ProviderUnavailable,
    "ReplayMiss": errors.ReplayMiss,
}
RESPONSE_CAP = 64 * 1024 * 1024


class FrameWriter:
    """Writes whole frames to the parent, one at a time (thread-safe), so
    frames written by concurrent cases never interleave."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def write(self, frame: bytes) -> None:
        """Write one encoded frame atomically with respect to other writers."""
        with self._lock:
            channel.write_all(self.fd, frame)

    def send(self, message: dict[str, Any]) -> None:
        """Encode ``message`` and write it as one frame."""
        self.write(channel.encode(message))


class PipeProvider:
    """A :class:`~evofarm.providers.base.Provider` that asks the parent.

    Thread-safe, with any number of calls in flight at once (see the module
    docs). A lost connection fails every waiting call with ``ProviderError``.

    Args:
        to_parent: the pipe to the parent, or a :class:`FrameWriter` shared
            with other writers of this process.
        from_parent: the pipe the parent's replies come on (read only here).
    """

    name = "sandbox"

    def __init__(self, to_parent: int | FrameWriter, from_parent: int) -> None:
        self._out = to_parent if isinstance(to_parent, FrameWriter) else FrameWriter(to_parent)
        self._in = from_parent
        self._cond = threading.Condition()
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._reading = False
        self._broken = False

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Forward ``request`` to the parent and wait for its answer.

        Raises:
            ProviderError: (or the subclass the parent named) the parent's
                provider failed or refused the call, or the pipe was lost.
        """
        reply = self.call({"type": "llm", "request": request.model_dump(mode="json")})
        if reply.get("type") == "llm_error":
            cls = _FORWARDABLE.get(str(reply.get("error")), errors.ProviderError)
            raise cls(str(reply.get("message", "LLM call refused")))
        return LLMResponse.model_validate(reply.get("response"))

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message`` (without ``id``: one is given) and return the parent's reply.

        Other request types than ``llm`` (the ``score`` requests of
        :mod:`evofarm.sandbox.child.score_proxy`) share the same id space and pipe.

        Raises:
            ProviderError: the pipe was lost.
        """
        with self._cond:
            self._next_id += 1
            call_id = self._next_id
        self._out.send({**message, "id": call_id})
        return self._await(call_id)

    def _await(self, call_id: int) -> dict[str, Any]:
        """The reply to ``call_id``: wait for it, or read the pipe while no one else does."""
        with self._cond:
            while True:
                reply = self._replies.pop(call_id, None)
                if reply is not None:
                    return reply
                if self._broken:
                    raise errors.ProviderError("the sandbox lost its connection to the worker")
                if not self._reading:
                    self._reading = True
                    break
                self._cond.wait()
        # This thread is the reader until its own reply comes.
        try:
            while True:
                message = channel.recv(self._in, RESPONSE_CAP)
                with self._cond:
                    if message is None:
                        self._broken = True
                        raise errors.ProviderError("the sandbox lost its connection to the worker")
                    mid = message.get("id")
                    if isinstance(mid, int) and mid <= self._next_id:
                        self._replies[mid] = message
                        self._cond.notify_all()
                    mine = self._replies.pop(call_id, None)
                    if mine is not None:
                        return mine
        except errors.ProviderError:
            raise
        except Exception as exc:  # a torn or oversized frame: the pipe is unusable
            with self._cond:
                self._broken = True
            raise errors.ProviderError(
                f"the sandbox lost its connection to the worker: {exc}"
            ) from exc
        finally:
            with self._cond:
                self._reading = False
                self._cond.notify_all()  # someone else still waiting takes over
