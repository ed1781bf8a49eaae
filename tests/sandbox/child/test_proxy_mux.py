"""The child's PipeProvider multiplexes concurrent calls over one pipe pair."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from evofarm.errors import ProviderError
from evofarm.providers.base import LLMRequest, LLMResponse
from evofarm.sandbox.child.proxy import PipeProvider
from evofarm.sandbox.wire import channel


@pytest.fixture
def pipes() -> Iterator[tuple[int, int, int, int]]:
    """(child writes, parent reads, parent writes, child reads)."""
    up_r, up_w = os.pipe()
    down_r, down_w = os.pipe()
    yield up_w, up_r, down_w, down_r
    for fd in (up_r, up_w, down_r, down_w):
        with contextlib.suppress(OSError):
            os.close(fd)


def _request(text: str) -> LLMRequest:
    return LLMRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": text}]}
    )


def _reply(message: dict[str, Any]) -> dict[str, Any]:
    text = LLMRequest.model_validate(message["request"]).prompt_text
    response = LLMResponse.model_validate({"text": f"re: {text}", "model": "m", "provider": "p"})
    return {"type": "llm_response", "id": message["id"], "response": response.model_dump()}


def test_replies_in_any_order_reach_their_callers(pipes: tuple[int, int, int, int]) -> None:
    child_w, parent_r, parent_w, child_r = pipes
    n = 8
    proxy = PipeProvider(child_w, child_r)

    def parent() -> None:
        # Answer only once every call is in flight, in reverse order.
        requests = [channel.recv(parent_r, 1 << 20) for _ in range(n)]
        for message in reversed(requests):
            assert message is not None
            channel.send(parent_w, _reply(message))

    server = threading.Thread(target=parent)
    server.start()
    with ThreadPoolExecutor(max_workers=n) as pool:
        texts = list(pool.map(lambda i: proxy.complete(_request(f"q{i}")).text, range(n)))
    server.join(5)
    assert texts == [f"re: q{i}" for i in range(n)]


def test_a_lost_connection_fails_every_waiting_call(pipes: tuple[int, int, int, int]) -> None:
    child_w, parent_r, parent_w, child_r = pipes
    n = 4
    proxy = PipeProvider(child_w, child_r)

    def parent() -> None:
        for _ in range(n):
            channel.recv(parent_r, 1 << 20)
        os.close(parent_w)  # the worker's end goes away mid-call

    server = threading.Thread(target=parent)
    server.start()

    def call(i: int) -> str:
        try:
            proxy.complete(_request(f"q{i}"))
        except ProviderError as exc:
            return str(exc)
        return "answered"

    with ThreadPoolExecutor(max_workers=n) as pool:
        outcomes = list(pool.map(call, range(n)))
    server.join(5)
    assert all("lost its connection" in o for o in outcomes)
