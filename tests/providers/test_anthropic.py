"""The Anthropic provider against the fake server, through the real SDK."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.providers.anthropic import _SAMPLING_PARAMS, AnthropicProvider
from evofarm.providers.base import LLMRequest, Message
from evofarm.providers.registry import make_provider
from evofarm.providers.retry import BackoffPolicy
from evofarm.settings import Settings
from evofarm.testing.fake_anthropic import FakeAnthropicServer, FakeReply

KEY = "sk-test-key"


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(api_key=KEY) as fake:
        yield fake


class Sleeps:
    """Records requested delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def provider_for(
    server: FakeAnthropicServer,
    *,
    max_retries: int = 3,
    timeout_s: float = 5.0,
    sleep: Sleeps | None = None,
    key: str = KEY,
) -> AnthropicProvider:
    return AnthropicProvider(
        key,
        base_url=server.base_url,
        timeout_s=timeout_s,
        backoff=BackoffPolicy(max_retries=max_retries, base_s=0.001, cap_s=0.004),
        aliases={"haiku": "claude-haiku-4-5"},
        sleep=sleep or Sleeps(),
    )


def test_success_reports_text_usage_cost_and_latency(server: FakeAnthropicServer) -> None:
    server.push(FakeReply.ok("Paris", input_tokens=1000, output_tokens=200, delay_s=0.05))
    provider = provider_for(server)
    request = LLMRequest(
        model="claude-haiku-4-5",
        system="You answer in one word.",
        messages=(Message(role="user", content="Capital of France?"),),
        max_tokens=50,
        temperature=0.0,
        stop_sequences=("END",),
    )
    response = provider.complete(request)
    assert response.text == "Paris"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (1000, 200)
    assert response.cost_usd == pytest.approx((1000 * 1 + 200 * 5) / 1e6)
    assert response.model == "claude-haiku-4-5"
    assert response.provider == "anthropic"
    assert response.retries == 0
    assert response.latency_s >= 0.05
    sent = server.message_requests[0].json
    assert sent["system"] == "You answer in one word."
    assert sent["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert sent["max_tokens"] == 50
    assert sent["stop_sequences"] == ["END"]
    assert "top_p" not in sent
    # sent exactly when this SDK version accepts sampling parameters
    assert ("temperature" in sent) == ("temperature" in _SAMPLING_PARAMS)


def test_alias_maps_to_configured_id(server: FakeAnthropicServer) -> None:
    provider_for(server).complete(LLMRequest.from_prompt("haiku", "hi"))
    assert server.message_requests[0].json["model"] == "claude-haiku-4-5"


def test_response_schema_is_asked_for_in_the_system_prompt(server: FakeAnthropicServer) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    provider_for(server).complete(LLMRequest.from_prompt("m", "x", response_schema=schema))
    system = server.message_requests[0].json["system"]
    assert "JSON schema" in system and '"a"' in system


def test_429_is_retried_honouring_retry_after(server: FakeAnthropicServer) -> None:
    server.push(FakeReply.rate_limited(retry_after=2.5), FakeReply.ok("after wait"))
    sleeps = Sleeps()
    response = provider_for(server, sleep=sleeps).complete(LLMRequest.from_prompt("m", "x"))
    assert response.text == "after wait"
    assert response.retries == 1
    assert sleeps.delays == [2.5]
    assert len(server.message_requests) == 2


def test_retry_after_really_waits_with_the_real_clock(server: FakeAnthropicServer) -> None:
    server.push(FakeReply.rate_limited(retry_after=0.3), FakeReply.ok("ok"))
    provider = AnthropicProvider(
        KEY, base_url=server.base_url, backoff=BackoffPolicy(max_retries=2, base_s=0.001)
    )
    start = time.perf_counter()
    assert provider.complete(LLMRequest.from_prompt("m", "x")).retries == 1
    first, second = server.message_requests
    assert second.received_at - first.received_at >= 0.29
    assert time.perf_counter() - start >= 0.3


def test_retry_after_is_capped(server: FakeAnthropicServer) -> None:
    server.push(FakeReply.rate_limited(retry_after=3600), FakeReply.ok("ok"))
    sleeps = Sleeps()
    provider = AnthropicProvider(
        KEY,
        base_url=server.base_url,
        backoff=BackoffPolicy(max_retries=1, retry_after_cap_s=0.5),
        sleep=sleeps,
    )
    provider.complete(LLMRequest.from_prompt("m", "x"))
    assert sleeps.delays == [0.5]


@pytest.mark.parametrize(
    "reply", [FakeReply.server_error(500), FakeReply.overloaded(), FakeReply.server_error(503)]
)
def test_5xx_and_529_are_retried_with_backoff(
    server: FakeAnthropicServer, reply: FakeReply
) -> None:
    server.push(reply, reply, FakeReply.ok("fine"))
    sleeps = Sleeps()
    response = provider_for(server, sleep=sleeps).complete(LLMRequest.from_prompt("m", "x"))
    assert response.text == "fine"
    assert response.retries == 2
    assert len(sleeps.delays) == 2
    # exponential, bounded, jittered: within [base*2^n/2, base*2^n]
    assert 0.0005 <= sleeps.delays[0] <= 0.001
    assert 0.001 <= sleeps.delays[1] <= 0.002


def test_retries_exhausted_is_provider_unavailable(server: FakeAnthropicServer) -> None:
    server.push(*[FakeReply.overloaded()] * 4)
    sleeps = Sleeps()
    with pytest.raises(ProviderUnavailable, match=r"after 3 retries.*HTTP 529.*Overloaded"):
        provider_for(server, max_retries=3, sleep=sleeps).complete(LLMRequest.from_prompt("m", "x"))
    assert len(server.message_requests) == 4
    assert len(sleeps.delays) == 3
    assert all(d <= 0.004 for d in sleeps.delays)  # capped


def test_timeout_is_retried_then_unavailable(server: FakeAnthropicServer) -> None:
    server.push(FakeReply.slow(2.0), FakeReply.slow(2.0))
    start = time.perf_counter()
    with pytest.raises(ProviderUnavailable, match="timed out"):
        provider_for(server, max_retries=1, timeout_s=0.2).complete(
            LLMRequest.from_prompt("m", "x")
        )
    assert time.perf_counter() - start < 1.5
    assert len(server.message_requests) == 2


def test_timeout_then_success(server: FakeAnthropicServer) -> None:
    server.push(FakeReply.slow(2.0), FakeReply.ok("quick"))
    response = provider_for(server, timeout_s=0.2).complete(LLMRequest.from_prompt("m", "x"))
    assert (response.text, response.retries) == ("quick", 1)


def test_malformed_body_is_retried(server: FakeAnthropicServer) -> None:
    server.push(FakeReply.malformed(), FakeReply.ok("whole"))
    response = provider_for(server).complete(LLMRequest.from_prompt("m", "x"))
    assert (response.text, response.retries) == ("whole", 1)
    server.push(*[FakeReply.malformed()] * 2)
    with pytest.raises(ProviderUnavailable, match="malformed response"):
        provider_for(server, max_retries=1).complete(LLMRequest.from_prompt("m", "x"))


def test_bad_key_is_a_config_error_without_retry(server: FakeAnthropicServer) -> None:
    sleeps = Sleeps()
    with pytest.raises(ProviderConfigError, match="HTTP 401"):
        provider_for(server, key="wrong", sleep=sleeps).complete(LLMRequest.from_prompt("m", "x"))
    assert sleeps.delays == []
    assert len(server.message_requests) == 1


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_4xx_are_config_errors(server: FakeAnthropicServer, status: int) -> None:
    server.push(FakeReply.error(status, "model: not_a_model"))
    with pytest.raises(ProviderConfigError, match=rf"HTTP {status}\): model: not_a_model"):
        provider_for(server).complete(LLMRequest.from_prompt("not_a_model", "x"))
    assert len(server.message_requests) == 1


def test_connection_refused_is_unavailable() -> None:
    with FakeAnthropicServer() as fake:
        url = fake.base_url
    provider = AnthropicProvider(
        KEY, base_url=url, timeout_s=1.0, backoff=BackoffPolicy(max_retries=1, base_s=0.001)
    )
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        provider.complete(LLMRequest.from_prompt("m", "x"))


def test_from_settings_uses_key_url_timeout_retries_and_aliases(
    server: FakeAnthropicServer,
) -> None:
    settings = Settings(
        anthropic_api_key=KEY,
        anthropic_base_url=server.base_url,
        anthropic_timeout_s=7.0,
        anthropic_max_retries=1,
        provider_backoff_base_s=0.001,
        provider_backoff_cap_s=0.002,
        model_sonnet="claude-sonnet-configured",
    )
    provider = make_provider("anthropic", settings)
    assert isinstance(provider, AnthropicProvider)
    assert provider.timeout_s == 7.0 and provider.backoff.max_retries == 1
    server.push(FakeReply.server_error(), FakeReply.ok("done"))
    response = provider.complete(LLMRequest.from_prompt("sonnet", "x"))
    assert response.retries == 1
    assert server.message_requests[-1].json["model"] == "claude-sonnet-configured"
    assert server.message_requests[-1].headers["x-stainless-read-timeout"] == "7.0"


def test_concurrent_calls_share_one_provider(server: FakeAnthropicServer) -> None:
    server.set_handler(lambda req: f"echo {req.prompt_text}")
    provider = provider_for(server)
    results: dict[int, str] = {}

    def call(i: int) -> None:
        results[i] = provider.complete(LLMRequest.from_prompt("m", f"q{i}")).text

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"echo q{i}" for i in range(16)}
