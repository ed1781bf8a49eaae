"""An Anthropic-compatible HTTP server on loopback, for tests and benchmarks.

The real ``anthropic`` SDK talks to it (``base_url=server.base_url``). It serves
``POST /v1/messages`` (and ``/v1/messages/count_tokens``) and answers from a
script: a queue of :class:`FakeReply` values, then a handler function of the
request, then a default deterministic echo. Replies can be delayed (latency,
slow responses that trip client timeouts), be errors in Anthropic's error shape
(429 with ``retry-after``, 500, 529, 401, ...) or be malformed bodies. Every
request is recorded (headers and JSON) in arrival order.

Concurrency: the server is a ``ThreadingHTTPServer`` speaking HTTP/1.1 with
keep-alive, one thread per connection; the script, the records and the in-flight
counters are guarded by one lock, so many clients can hit it at once and
``max_in_flight`` tells a rate-limit test how many requests overlapped. Delays
wait on an event that :meth:`FakeAnthropicServer.stop` sets, so stopping never
waits for a slow reply to finish.

Example::

    with FakeAnthropicServer() as server:
        server.push(FakeReply.rate_limited(retry_after=0.01), FakeReply.ok("hi"))
        client = anthropic.Anthropic(api_key="test", base_url=server.base_url)
"""

from __future__ import annotations

import itertools
import json
import math
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

# Anthropic's error ``type`` for each status the fake can send.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_MAX_BODY_BYTES = 32 * 1024 * 1024
# Idle keep-alive connections are dropped after this, so handler threads end.
_IDLE_TIMEOUT_S = 30.0


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 makes a burst of new connections wait
    # for SYN retransmission (1 s); benchmarks open dozens at once.
    request_queue_size = 256
    daemon_threads = True


@dataclass(frozen=True)
class FakeReply:
    """One scripted answer.

    Attributes:
        status: HTTP status.
        text: Assistant text of a 200 reply (None: the default echo text).
        input_tokens: Reported usage; None estimates it from the request.
        output_tokens: Reported usage; None estimates it from the text.
        stop_reason: ``stop_reason`` of a 200 reply.
        error_message: ``error.message`` of an error reply.
        headers: Extra response headers (e.g. ``retry-after``).
        delay_s: Seconds to wait before answering (on top of server latency).
        raw_body: Sent verbatim instead of a JSON body (malformed replies).
    """

    status: int = 200
    text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str = "end_turn"
    error_message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    raw_body: bytes | None = None

    @classmethod
    def ok(
        cls,
        text: str,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        delay_s: float = 0.0,
    ) -> FakeReply:
        """A successful message with ``text``."""
        return cls(
            text=text, input_tokens=input_tokens, output_tokens=output_tokens, delay_s=delay_s
        )

    @classmethod
    def error(
        cls, status: int, message: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> FakeReply:
        """An error reply in Anthropic's shape (``{"type": "error", "error": ...}``)."""
        return cls(status=status, error_message=message, headers=dict(headers or {}))

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0) -> FakeReply:
        """429 with a ``retry-after`` header in seconds (omitted if None)."""
        headers = {} if retry_after is None else {"retry-after": _fmt_seconds(retry_after)}
        return cls.error(429, "Number of requests has exceeded your rate limit", headers=headers)

    @classmethod
    def overloaded(cls) -> FakeReply:
        """529 overloaded_error."""
        return cls.error(529, "Overloaded")

    @classmethod
    def server_error(cls, status: int = 500) -> FakeReply:
        """A 5xx api_error."""
        return cls.error(status, "Internal server error")

    @classmethod
    def slow(cls, delay_s: float, text: str = "slow reply") -> FakeReply:
        """A 200 that starts only after ``delay_s`` (to trip client timeouts)."""
        return cls(text=text, delay_s=delay_s)

    @classmethod
    def malformed(cls, status: int = 200) -> FakeReply:
        """A truncated JSON body with a JSON content type."""
        return cls(status=status, raw_body=b'{"id": "msg_broken", "type": "mess')


@dataclass(frozen=True)
class Billed:
    """What a :class:`FakeAnthropicServer` charged: requests and tokens, per model too."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    by_model: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def plus(self, model: str, input_tokens: int, output_tokens: int) -> Billed:
        """This bill with one more reply."""
        seen = self.by_model.get(model, (0, 0))
        return Billed(
            self.requests + 1,
            self.input_tokens + input_tokens,
            self.output_tokens + output_tokens,
            {**self.by_model, model: (seen[0] + input_tokens, seen[1] + output_tokens)},
        )

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def cost_usd(self, input_per_mtok: float, output_per_mtok: float) -> float:
        """The bill at one price for every model."""
        return (self.input_tokens * input_per_mtok + self.output_tokens * output_per_mtok) / 1e6


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float
    peer_port: int = 0

    @property
    def prompt_text(self) -> str:
        """The user turns' text of a messages request, joined by newlines."""
        if not isinstance(self.json, dict):
            return ""
        texts: list[str] = []
        for message in self.json.get("messages", []):
            if isinstance(message, dict) and message.get("role") == "user":
                texts.append(_content_text(message.get("content")))
        return "\n".join(texts)


Handler = Callable[[RecordedRequest], "FakeReply | str"]


def _fmt_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return ""


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class FakeAnthropicServer:
    """An Anthropic Messages API double on ``127.0.0.1`` (ephemeral port).

    Args:
        script: Replies served first, one per messages request, in order.
        handler: Called when the script is empty; returns a reply or a text.
        latency_s: Added before every reply.
        api_key: If set, requests carrying another key (``x-api-key`` or
            ``authorization: Bearer``) get a 401.
        requests_per_s: If set, the server enforces this rate like a provider
            account: a messages request beyond it within any one-second window
            gets a 429 with ``retry-after`` (counted in :attr:`rejected`).

    :attr:`billed` is what the server charged: the usage of every 200 reply it
    sent, the truth that accounting tests compare the farm's counts with.
    :attr:`undelivered` is the part of that bill whose client had hung up
    before the reply went out (a killed worker): billed like a provider does,
    but no client ever saw its usage. :attr:`in_flight_requests` tells a test
    which connection (client port) a request being answered came on.

    Thread-safe: every public method may be called while requests are served.
    """

    def __init__(
        self,
        script: Iterable[FakeReply] = (),
        *,
        handler: Handler | None = None,
        latency_s: float = 0.0,
        api_key: str | None = None,
        requests_per_s: float | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.api_key = api_key
        self.requests_per_s = requests_per_s
        self._window: deque[float] = deque()
        self._billed = Billed()
        self._undelivered = Billed()
        self._rejected = 0
        self._script: deque[FakeReply] = deque(script)
        self._handler = handler
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._in_flight = 0
        self._in_flight_requests: dict[int, RecordedRequest] = {}
        self._max_in_flight = 0
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> FakeAnthropicServer:
        """Bind an ephemeral loopback port and serve on a background thread."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _Server(("127.0.0.1", 0), _make_handler_class(self))
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-anthropic",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; pending delayed replies are cut short."""
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (what the SDK's ``base_url`` wants)."""
        if self._httpd is None:
            raise RuntimeError("FakeAnthropicServer is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting -----------------------------------------------------------

    def push(self, *replies: FakeReply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._script.extend(replies)

    def set_handler(self, handler: Handler | None) -> None:
        """Replace the handler used once the script is empty."""
        with self._lock:
            self._handler = handler

    @property
    def pending(self) -> int:
        """Scripted replies not yet served."""
        with self._lock:
            return len(self._script)

    # -- observation ---------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The ``POST /v1/messages`` requests only."""
        return [r for r in self.requests if r.path == "/v1/messages"]

    @property
    def in_flight(self) -> int:
        """Requests being answered right now."""
        with self._lock:
            return self._in_flight

    @property
    def in_flight_requests(self) -> list[RecordedRequest]:
        """The requests being answered right now (each with its client's port)."""
        with self._lock:
            return list(self._in_flight_requests.values())

    @property
    def max_in_flight(self) -> int:
        """The most requests that were being answered at the same time."""
        with self._lock:
            return self._max_in_flight

    @property
    def billed(self) -> Billed:
        """What the server charged so far (200 replies to messages requests)."""
        with self._lock:
            return self._billed

    @property
    def undelivered(self) -> Billed:
        """The part of :attr:`billed` whose client had hung up before the reply was sent."""
        with self._lock:
            return self._undelivered

    @property
    def rejected(self) -> int:
        """Messages requests refused with 429 by the ``requests_per_s`` limit."""
        with self._lock:
            return self._rejected

    def reset(self) -> None:
        """Forget recorded requests, the script, the bill and the in-flight maximum."""
        with self._lock:
            self._requests.clear()
            self._script.clear()
            self._max_in_flight = self._in_flight
            self._billed = Billed()
            self._undelivered = Billed()
            self._rejected = 0
            self._window.clear()

    def _over_limit(self) -> float | None:
        """Seconds to wait if a request now exceeds ``requests_per_s``, else None."""
        if self.requests_per_s is None:
            return None
        now = time.monotonic()
        with self._lock:
            while self._window and now - self._window[0] >= 1.0:
                self._window.popleft()
            if len(self._window) >= self.requests_per_s:
                self._rejected += 1
                return max(0.001, 1.0 - (now - self._window[0]))
            self._window.append(now)
            return None

    def _bill(self, body: dict[str, Any]) -> None:
        usage = body["usage"]
        model = str(body["model"])
        with self._lock:
            self._billed = self._billed.plus(
                model, int(usage["input_tokens"]), int(usage["output_tokens"])
            )

    # -- serving (called on handler threads) -----------------------------------

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            token = next(self._tokens)
            self._in_flight_requests[token] = request
            return token

    def _done(self, token: int) -> None:
        with self._lock:
            self._in_flight -= 1
            del self._in_flight_requests[token]

    def _note_undelivered(self, body: bytes) -> None:
        """Count a billed reply whose client was gone in :attr:`undelivered`."""
        message = json.loads(body)
        usage = message["usage"]
        with self._lock:
            self._undelivered = self._undelivered.plus(
                str(message["model"]), int(usage["input_tokens"]), int(usage["output_tokens"])
            )

    def _next_reply(self, request: RecordedRequest) -> FakeReply:
        with self._lock:
            scripted = self._script.popleft() if self._script else None
            handler = self._handler
        if scripted is not None:
            return scripted
        if handler is not None:
            answer = handler(request)
            return FakeReply(text=answer) if isinstance(answer, str) else answer
        return FakeReply()

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopping; True if the server is stopping."""
        return seconds > 0 and self._stopping.wait(seconds)

    def _message_body(self, request: RecordedRequest, reply: FakeReply) -> dict[str, Any]:
        text = reply.text
        if text is None:
            text = f"Fake response for: {request.prompt_text[:50]}..."
        payload = request.json if isinstance(request.json, dict) else {}
        input_tokens = reply.input_tokens
        if input_tokens is None:
            system = _content_text(payload.get("system"))
            input_tokens = _estimate_tokens(system + request.prompt_text)
        output_tokens = reply.output_tokens
        if output_tokens is None:
            output_tokens = _estimate_tokens(text)
        return {
            "id": f"msg_fake_{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": str(payload.get("model", "unknown")),
            "content": [{"type": "text", "text": text}],
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for ``request`` (after any delay)."""
        if request.method != "POST" or request.path not in (
            "/v1/messages",
            "/v1/messages/count_tokens",
        ):
            return _error(404, f"Not found: {request.method} {request.path}")
        if self.api_key is not None and self.api_key not in _presented_keys(request.headers):
            return _error(401, "invalid x-api-key")
        if not isinstance(request.json, dict):
            return _error(400, "request body is not a JSON object")
        if request.path == "/v1/messages/count_tokens":
            tokens = _estimate_tokens(request.prompt_text)
            return _json(200, {"input_tokens": tokens})
        limited = self._over_limit()
        if limited is not None:
            status, base, body = _error(429, "Number of requests has exceeded your rate limit")
            return status, {**base, "retry-after": _fmt_seconds(limited)}, body
        reply = self._next_reply(request)
        if self._wait(self.latency_s + reply.delay_s):
            return _error(503, "server stopping")
        headers = dict(reply.headers)
        if reply.raw_body is not None:
            status, base, body = reply.status, {"content-type": "application/json"}, reply.raw_body
        elif reply.status >= 400:
            status, base, body = _error(reply.status, reply.error_message)
        else:
            message = self._message_body(request, reply)
            status, base, body = _json(reply.status, message)
            if status == 200:
                self._bill(message)
        return status, {**base, **headers}, body


def _peer_closed(conn: socket.socket) -> bool:
    """Whether the client has hung up (EOF or reset pending; it sends nothing while waiting)."""
    try:
        if not select.select([conn], [], [], 0)[0]:
            return False
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _presented_keys(headers: Mapping[str, str]) -> set[str]:
    """The API keys a request carries (SDK versions use either header)."""
    keys = {headers.get("x-api-key", "")}
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        keys.add(auth[7:].strip())
    return keys - {""}


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(payload).encode()


def _error(status: int, message: str | None) -> tuple[int, dict[str, str], bytes]:
    kind = _ERROR_TYPES.get(status, "api_error")
    payload = {"type": "error", "error": {"type": kind, "message": message or kind}}
    return _json(status, payload)


def _make_handler_class(server: FakeAnthropicServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        # Keep-alive, as the SDK's HTTP client expects; every reply has a length.
        protocol_version = "HTTP/1.1"
        timeout = _IDLE_TIMEOUT_S
        # Headers and body go out in separate writes; with Nagle on, each reply
        # would wait for the client's delayed ACK (~40 ms).
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= _MAX_BODY_BYTES:
                # The body cannot be skipped safely: answer and drop the connection.
                self._send(*_error(413 if length > 0 else 400, "bad or too large body"))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            try:
                payload: Any = json.loads(body) if body else None
            except ValueError:
                payload = None
            recorded = RecordedRequest(
                method=self.command,
                path=self.path.split("?", 1)[0],
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                json=payload,
                received_at=time.time(),
                peer_port=int(self.client_address[1]),
            )
            token = server._record(recorded)
            try:
                status, headers, reply = server.respond(recorded)
                if (
                    status == 200
                    and recorded.path == "/v1/messages"
                    and _peer_closed(self.connection)
                ):
                    server._note_undelivered(reply)
                self._send(status, headers, reply)
            finally:
                server._done(token)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.send_header("request-id", f"req_fake_{id(self):x}")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (e.g. its timeout fired): nothing to answer.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            # Quiet: tests and benchmarks read .requests instead of stderr.
            return

    return _Handler
