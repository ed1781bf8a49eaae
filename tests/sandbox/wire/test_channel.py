from __future__ import annotations

import json
import os
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evofarm.errors import SandboxError
from evofarm.sandbox.wire import channel

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)
messages = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@settings(max_examples=50, deadline=None)
@given(batch=st.lists(messages, min_size=1, max_size=5), cut=st.integers(min_value=1, max_value=7))
def test_reader_reassembles_any_chunking(batch: list[dict[str, Any]], cut: int) -> None:
    stream = b"".join(channel.encode(m) for m in batch)
    reader = channel.FrameReader(cap=1 << 20)
    got: list[dict[str, Any]] = []
    for start in range(0, len(stream), cut):
        got.extend(reader.feed(stream[start : start + cut]))
    assert got == batch
    assert reader.pending == 0


def test_reader_refuses_from_the_header_before_any_body_byte() -> None:
    reader = channel.FrameReader(cap=100)
    header_only = channel.HEADER.pack(300 * 1024 * 1024)
    with pytest.raises(channel.FrameTooLarge) as info:
        list(reader.feed(header_only))
    assert info.value.size == 300 * 1024 * 1024
    assert info.value.cap == 100


@pytest.mark.parametrize("body", [b"\xff\xfe", b"[1, 2]", b"not json", b'"text"'])
def test_reader_rejects_non_objects(body: bytes) -> None:
    reader = channel.FrameReader(cap=100)
    with pytest.raises(channel.ProtocolError):
        list(reader.feed(channel.HEADER.pack(len(body)) + body))


def test_encode_refuses_nan_and_non_json() -> None:
    with pytest.raises(ValueError):
        channel.encode({"x": float("nan")})
    with pytest.raises(TypeError):
        channel.encode({"x": {1, 2}})


def test_encode_with_raw_splices_valid_json() -> None:
    raw = json.dumps({"deep": [1, "two"]})
    frame = channel.encode_with_raw({"type": "result"}, "value", raw)
    reader = channel.FrameReader(cap=1000)
    assert list(reader.feed(frame)) == [{"type": "result", "value": {"deep": [1, "two"]}}]
    empty = channel.encode_with_raw({}, "value", "3")
    assert list(reader.feed(empty)) == [{"value": 3}]


def test_send_and_recv_over_a_pipe_with_a_large_message() -> None:
    r, w = os.pipe()
    message = {"blob": "x" * 300_000}  # larger than the pipe buffer
    writer = threading.Thread(target=channel.send, args=(w, message))
    writer.start()
    try:
        assert channel.recv(r, cap=1 << 20) == message
    finally:
        writer.join()
        os.close(w)
    assert channel.recv(r, cap=10) is None  # clean end of file
    os.close(r)


def test_recv_caps_and_detects_truncation() -> None:
    r, w = os.pipe()
    channel.send(w, {"blob": "y" * 1000})
    with pytest.raises(channel.FrameTooLarge):
        channel.recv(r, cap=100)
    os.close(r)
    os.close(w)
    r, w = os.pipe()
    frame = channel.encode({"a": 1})
    os.write(w, frame[:-2])
    os.close(w)
    with pytest.raises(SandboxError, match="middle of a message"):
        channel.recv(r, cap=100)
    os.close(r)
