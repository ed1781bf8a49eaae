"""Framed JSON messages over pipes, capped while they are read.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8
JSON. The reader checks the length against its cap *before* reading the body,
so a child can never make its parent buffer more than the cap. No pickle: a
frame that is not a strict JSON object (``NaN``, ``Infinity`` and ``-Infinity``
are not JSON) is a protocol error.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from typing import Any

from evofarm.errors import FarmError, SandboxError

HEADER = struct.Struct(">I")
MAX_FRAME = 0xFFFFFFFF


class FrameTooLarge(FarmError):
    """A frame header announced more bytes than the reader accepts.

    Internal to the wire: the parent turns it into the evaluation's outcome. It
    is deliberately not a :class:`~evofarm.errors.SandboxError`, which the farm
    retries: a message too large is not an infrastructure failure.
    """

    def __init__(self, size: int, cap: int) -> None:
        self.size = size
        self.cap = cap
        super().__init__(f"message of {size} bytes exceeds the cap of {cap} bytes")


class ProtocolError(FarmError):
    """A frame was not a UTF-8 JSON object (internal to the wire, like FrameTooLarge)."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame for ``message``.

    Raises:
        FrameTooLarge: the encoded message does not fit a frame.
    """
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    if len(body) > MAX_FRAME:
        raise FrameTooLarge(len(body), MAX_FRAME)
    return HEADER.pack(len(body)) + body


def encode_with_raw(message: dict[str, Any], key: str, raw_json: str) -> bytes:
    """One frame for ``message`` plus ``key`` set to already-encoded JSON text.

    Splicing the text in avoids encoding a large result a second time (and
    escaping it, which could double its size).
    """
    head = json.dumps(message, separators=(",", ":"), allow_nan=False)
    body = (head[:-1] + ("," if message else "") + json.dumps(key) + ":" + raw_json + "}").encode()
    if len(body) > MAX_FRAME:
        raise FrameTooLarge(len(body), MAX_FRAME)
    return HEADER.pack(len(body)) + body


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse one frame body (strict JSON).

    Raises:
        ProtocolError: not a UTF-8 JSON object, or it holds NaN/Infinity or
            nesting too deep to parse.
    """
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("a message must be a JSON object")
    return value


class FrameReader:
    """Incremental frame parser for a non-blocking reader. Not thread-safe.

    Feed it whatever ``os.read`` returned; it yields complete messages. It never
    holds more than ``cap`` body bytes plus one read's worth of data.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._buffer = bytearray()
        self._need: int | None = None

    def feed(self, data: bytes) -> Iterator[dict[str, Any]]:
        """Add bytes and yield every message they complete.

        Raises:
            FrameTooLarge: a header announced more than ``cap`` bytes.
            ProtocolError: a body was not a JSON object.
        """
        self._buffer += data
        while True:
            if self._need is None:
                if len(self._buffer) < HEADER.size:
                    return
                (size,) = HEADER.unpack_from(self._buffer)
                if size > self.cap:
                    raise FrameTooLarge(size, self.cap)
                del self._buffer[: HEADER.size]
                self._need = size
            if len(self._buffer) < self._need:
                return
            body = bytes(self._buffer[: self._need])
            del self._buffer[: self._need]
            self._need = None
            yield decode_body(body)

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet form a message."""
        return len(self._buffer)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to a blocking descriptor (retrying short writes)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def send(fd: int, message: dict[str, Any]) -> None:
    """Write one frame to a blocking descriptor."""
    write_all(fd, encode(message))


def _read_exact(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise SandboxError("channel closed in the middle of a message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv(fd: int, cap: int) -> dict[str, Any] | None:
    """Read one frame from a blocking descriptor; ``None`` at a clean EOF.

    Raises:
        FrameTooLarge: the header announced more than ``cap`` bytes.
        ProtocolError: the body was not a JSON object.
        SandboxError: the channel closed mid-frame.
    """
    first = os.read(fd, HEADER.size)
    if not first:
        return None
    header = (
        first if len(first) == HEADER.size else first + _read_exact(fd, HEADER.size - len(first))
    )
    (size,) = HEADER.unpack(header)
    if size > cap:
        raise FrameTooLarge(size, cap)
    return decode_body(_read_exact(fd, size))
