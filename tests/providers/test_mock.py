from __future__ import annotations

import json
import threading
import time

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.providers.base import LLMRequest, LLMResponse, Message, Provider, Usage
from evofarm.providers.mock import (
    MockProvider,
    ScriptedProvider,
    estimate_tokens,
    mock_text,
)


def test_answers_like_pipeline_ex_mock_mode() -> None:
    provider = MockProvider()
    response = provider.complete(LLMRequest.from_prompt("claude-haiku-4-5", "Summarise this"))
    assert response.text == "Mock response for: Summarise this..."
    assert response.provider == "mock"
    assert response.model == "claude-haiku-4-5"
    assert isinstance(provider, Provider)


def test_echo_is_cut_at_fifty_characters() -> None:
    prompt = "x" * 80
    text = MockProvider().complete(LLMRequest.from_prompt("m", prompt)).text
    assert text == "Mock response for: " + "x" * 50 + "..."


def test_gemini_style_wording() -> None:
    text = MockProvider(style="gemini").complete(LLMRequest.from_prompt("m", "plan")).text
    assert text == "Mock Gemini response for: plan..."


def test_scripted_patterns_win_in_order() -> None:
    provider = MockProvider(responses={"Python": "Mock Python code response", "code": "other"})
    request = LLMRequest.from_prompt("m", "write Python code")
    assert provider.complete(request).text == "Mock Python code response"
    assert provider.complete(LLMRequest.from_prompt("m", "no match")).text.startswith(
        "Mock response for"
    )


def test_token_counts_are_deterministic_and_priced() -> None:
    request = LLMRequest(
        model="claude-sonnet-4-5",
        system="be brief",  # 8 chars -> 2 tokens
        messages=(Message(role="user", content="abcdefgh"),),  # 2 tokens
    )
    first = MockProvider().complete(request)
    second = MockProvider().complete(request)
    assert first.usage == second.usage
    assert first.usage.input_tokens == 4
    assert first.usage.output_tokens == estimate_tokens(first.text)
    assert first.cost_usd == pytest.approx((4 * 3 + first.usage.output_tokens * 15) / 1e6)


def test_output_tokens_never_exceed_max_tokens() -> None:
    request = LLMRequest.from_prompt("m", "y" * 200, max_tokens=3)
    assert MockProvider().complete(request).usage.output_tokens == 3


def test_response_schema_gets_valid_json() -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 6},
            "score": {"type": "integer", "minimum": 3},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "kind": {"enum": ["a", "b"]},
            "when": {"type": "string", "format": "date"},
            "ok": {"type": "boolean"},
            "maybe": {"type": ["null", "number"]},
        },
        "required": ["title", "score", "tags", "kind"],
    }
    request = LLMRequest.from_prompt("m", "extract", response_schema=schema)
    value = json.loads(MockProvider().complete(request).text)
    jsonschema.validate(value, schema)
    assert value["kind"] == "a" and len(value["tags"]) == 2


def test_latency_waits_and_calls_overlap() -> None:
    provider = MockProvider(latency_s=0.1)
    request = LLMRequest.from_prompt("m", "p")
    start = time.perf_counter()
    threads = [threading.Thread(target=provider.complete, args=(request,)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    assert 0.1 <= elapsed < 0.4  # five 0.1 s calls overlap
    assert provider.calls == 5
    assert provider.complete(request).latency_s >= 0.1


def test_negative_latency_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError):
        MockProvider(latency_s=-1)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_mock_text_is_the_pipeline_ex_format(prompt: str) -> None:
    response = MockProvider().complete(LLMRequest.from_prompt("m", prompt))
    assert response.text == mock_text(prompt)
    assert response.text.startswith("Mock response for: ") and response.text.endswith("...")
    assert response.usage.input_tokens >= 1


def test_scripted_provider_replays_items_then_errors_then_function() -> None:
    canned = LLMResponse(text="full", usage=Usage(input_tokens=7), model="x", provider="s")
    provider = ScriptedProvider(
        ["one", ProviderUnavailable("boom"), canned],
        function=lambda r: f"fn:{r.prompt_text}",
    )
    request = LLMRequest.from_prompt("m", "hi")
    assert provider.complete(request).text == "one"
    with pytest.raises(ProviderUnavailable, match="boom"):
        provider.complete(request)
    assert provider.complete(request) is canned
    assert provider.complete(request).text == "fn:hi"
    assert len(provider.requests) == 4


def test_scripted_provider_without_replies_left_says_so() -> None:
    provider = ScriptedProvider(["only"])
    provider.complete(LLMRequest.from_prompt("m", "a"))
    with pytest.raises(ProviderConfigError, match="no reply left"):
        provider.complete(LLMRequest.from_prompt("m", "b"))
    provider.push("more")
    assert provider.complete(LLMRequest.from_prompt("m", "c")).text == "more"
