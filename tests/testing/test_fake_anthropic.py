from __future__ import annotations

import threading
import time

import anthropic
import httpx
import pytest

from evofarm.testing.fake_anthropic import FakeAnthropicServer, FakeReply, RecordedRequest


def sdk(server: FakeAnthropicServer, **kw: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0, **kw)  # type: ignore[arg-type]


def ask(client: anthropic.Anthropic, prompt: str = "hello", model: str = "claude-haiku-4-5") -> str:
    message = client.messages.create(
        model=model, max_tokens=16, messages=[{"role": "user", "content": prompt}]
    )
    return "".join(b.text for b in message.content if b.type == "text")


def test_real_sdk_gets_scripted_then_handler_then_default_replies() -> None:
    with FakeAnthropicServer([FakeReply.ok("first", input_tokens=11, output_tokens=3)]) as server:
        client = sdk(server)
        message = client.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "q"}]
        )
        assert message.content[0].text == "first"  # type: ignore[union-attr]
        assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 3)
        assert message.model == "claude-haiku-4-5"
        assert ask(client, "default") == "Fake response for: default..."
        server.set_handler(lambda req: f"handled {req.prompt_text}")
        assert ask(client, "x") == "handled x"
        server.set_handler(lambda req: FakeReply.error(400, "nope"))
        with pytest.raises(anthropic.BadRequestError):
            ask(client)
        assert server.pending == 0


def test_records_headers_and_json() -> None:
    with FakeAnthropicServer() as server:
        ask(sdk(server), "recorded prompt")
        (request,) = server.requests
        assert isinstance(request, RecordedRequest)
        assert (request.method, request.path) == ("POST", "/v1/messages")
        assert request.json["messages"] == [{"role": "user", "content": "recorded prompt"}]
        assert request.headers["anthropic-version"]
        assert request.prompt_text == "recorded prompt"
        assert server.message_requests == [request]


def test_error_replies_have_anthropic_shape_and_headers() -> None:
    with FakeAnthropicServer() as server:
        server.push(
            FakeReply.rate_limited(retry_after=1.5),
            FakeReply.overloaded(),
            FakeReply.server_error(),
        )
        client = sdk(server)
        with pytest.raises(anthropic.RateLimitError) as rate:
            ask(client)
        assert rate.value.response.headers["retry-after"] == "1.5"
        assert rate.value.body == {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "Number of requests has exceeded your rate limit",
            },
        }
        with pytest.raises(anthropic.APIStatusError) as overloaded:
            ask(client)
        assert overloaded.value.status_code == 529
        with pytest.raises(anthropic.InternalServerError):
            ask(client)


def test_api_key_is_checked_when_configured() -> None:
    with FakeAnthropicServer(api_key="right") as server:
        with pytest.raises(anthropic.AuthenticationError):
            ask(sdk(server))
        ok = httpx.post(
            f"{server.base_url}/v1/messages",
            headers={"x-api-key": "right"},
            json={"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "a"}]},
        )
        assert ok.status_code == 200


def test_slow_reply_trips_client_timeout_and_stop_is_prompt() -> None:
    server = FakeAnthropicServer([FakeReply.slow(30.0)]).start()
    try:
        with pytest.raises(anthropic.APITimeoutError):
            ask(sdk(server, timeout=0.2))
    finally:
        start = time.perf_counter()
        server.stop()
        assert time.perf_counter() - start < 2.0


def test_malformed_body_breaks_the_sdk_parse() -> None:
    with FakeAnthropicServer([FakeReply.malformed()]) as server, pytest.raises(ValueError):
        ask(sdk(server))


def test_unknown_routes_and_bad_json() -> None:
    with FakeAnthropicServer() as server:
        assert httpx.get(f"{server.base_url}/v1/models").status_code == 404
        bad = httpx.post(f"{server.base_url}/v1/messages", content=b"not json")
        assert bad.status_code == 400
        assert bad.json()["error"]["type"] == "invalid_request_error"
        count = httpx.post(
            f"{server.base_url}/v1/messages/count_tokens",
            json={"model": "m", "messages": [{"role": "user", "content": "abcdefgh"}]},
        )
        assert count.json() == {"input_tokens": 2}
        assert len(server.requests) == 3


def test_latency_and_concurrency_are_observable() -> None:
    with FakeAnthropicServer(latency_s=0.2) as server:
        client = sdk(server)
        texts: list[str] = []
        lock = threading.Lock()

        def call(i: int) -> None:
            text = ask(client, f"p{i}")
            with lock:
                texts.append(text)

        start = time.perf_counter()
        threads = [threading.Thread(target=call, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        assert len(texts) == 32
        # Served concurrently (not 32 x 0.2 s), and a burst of new connections
        # does not overflow the listen backlog (a SYN retry costs 1 s).
        assert 0.2 <= elapsed < 1.0
        assert server.max_in_flight >= 8
        assert server.in_flight == 0
        server.reset()
        assert server.requests == [] and server.max_in_flight == 0


def test_base_url_needs_a_running_server() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = FakeAnthropicServer().base_url


def test_sequential_calls_are_not_delayed_by_nagle() -> None:
    with FakeAnthropicServer() as server:
        client = sdk(server)
        ask(client)  # connect
        start = time.perf_counter()
        for _ in range(20):
            ask(client)
        # ~40 ms each if headers and body waited for a delayed ACK
        assert time.perf_counter() - start < 0.6
