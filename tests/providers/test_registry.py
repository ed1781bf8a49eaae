from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from evofarm.errors import ProviderConfigError, ReplayMiss
from evofarm.providers.base import LLMRequest, Provider
from evofarm.providers.cache import CachingProvider
from evofarm.providers.mock import MockProvider, ScriptedProvider
from evofarm.providers.registry import ProviderSet, SlotBinding, make_provider
from evofarm.providers.replay import ReplayProvider
from evofarm.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        anthropic_api_key=None,
        gemini_api_key=None,
        model_haiku="claude-haiku-test",
        model_sonnet="claude-sonnet-test",
        model_opus="claude-opus-test",
        default_claude_model="sonnet",
        default_gemini_model="gemini-test",
        replay_cassette=tmp_path / "cassette.jsonl",
    )


def test_make_provider_builds_each_kind(settings: Settings) -> None:
    assert isinstance(make_provider("mock", settings), MockProvider)
    assert (
        make_provider("mock", settings, slot="gemini")
        .complete(LLMRequest.from_prompt("g", "x"))
        .text.startswith("Mock Gemini response")
    )
    assert isinstance(make_provider("replay", settings), ReplayProvider)


def test_make_provider_errors_are_config_errors(settings: Settings) -> None:
    with pytest.raises(ProviderConfigError, match="unknown provider 'openai'"):
        make_provider("openai", settings)
    with pytest.raises(ProviderConfigError, match="ANTHROPIC_API_KEY"):
        make_provider("anthropic", settings)
    with pytest.raises(ProviderConfigError, match="GEMINI_API_KEY"):
        make_provider("gemini", settings)
    no_cassette = settings.model_copy(update={"replay_cassette": None})
    with pytest.raises(ProviderConfigError, match="EVOFARM_REPLAY_CASSETTE"):
        make_provider("replay", no_cassette)


def test_default_set_is_mock_with_default_models_resolved(settings: Settings) -> None:
    ps = ProviderSet(settings=settings)
    claude = ps.complete("claude", LLMRequest.from_prompt("", "hi"))
    assert claude.model == "claude-sonnet-test"
    assert claude.text == "Mock response for: hi..."
    gemini = ps.complete("gemini", LLMRequest.from_prompt("", "hi"))
    assert gemini.model == "gemini-test"
    assert gemini.text.startswith("Mock Gemini response")


def test_aliases_map_to_configured_ids(settings: Settings) -> None:
    ps = ProviderSet(settings=settings)
    assert ps.complete("claude", LLMRequest.from_prompt("haiku", "a")).model == "claude-haiku-test"
    assert ps.complete("claude", LLMRequest.from_prompt("Opus", "a")).model == "claude-opus-test"
    assert ps.complete("claude", LLMRequest.from_prompt("claude-x-1", "a")).model == "claude-x-1"


def test_unknown_slot_names_the_known_slots(settings: Settings) -> None:
    with pytest.raises(
        ProviderConfigError, match=r"unknown provider slot 'openai'.*claude, gemini"
    ):
        ProviderSet(settings=settings).complete("openai", LLMRequest.from_prompt("m", "x"))


def test_overrides_switch_provider_and_slot_default_model(settings: Settings) -> None:
    scripted = ScriptedProvider(function=lambda r: f"scripted {r.model}", name="scripted")
    base = ProviderSet(
        {"claude": SlotBinding("mock", "sonnet"), "gemini": SlotBinding("mock", "gemini-test")},
        settings=settings,
        providers={"scripted": scripted},
    )
    derived = base.with_overrides({"claude": {"provider": "scripted", "model": "haiku"}})
    # a step without a model gets the override's model; a step's own model wins
    assert derived.complete("claude", LLMRequest.from_prompt("", "x")).text == (
        "scripted claude-haiku-test"
    )
    assert derived.complete("claude", LLMRequest.from_prompt("opus", "x")).text == (
        "scripted claude-opus-test"
    )
    # the base set is unchanged
    assert base.complete("claude", LLMRequest.from_prompt("", "x")).model == "claude-sonnet-test"
    assert base.complete("claude", LLMRequest.from_prompt("", "x")).provider == "mock"
    # model-only override keeps the provider; attribute objects work too
    by_attr = base.with_overrides(
        {"gemini": SimpleNamespace(provider=None, model="gemini-2.5-pro")}
    )
    assert by_attr.bindings["gemini"] == SlotBinding("mock", "gemini-2.5-pro")
    assert by_attr.complete("gemini", LLMRequest.from_prompt("", "y")).model == "gemini-2.5-pro"


def test_pinned_override_replaces_the_step_model(settings: Settings) -> None:
    pinned = ProviderSet(settings=settings).with_overrides({"claude": {"model": "haiku"}}, pin=True)
    assert pinned.bindings["claude"].pin_model
    assert pinned.complete("claude", LLMRequest.from_prompt("opus", "x")).model == (
        "claude-haiku-test"
    )
    # a later provider-only override keeps the pin
    again = pinned.with_overrides({"claude": {"provider": "mock"}})
    assert again.complete("claude", LLMRequest.from_prompt("opus", "x")).model == (
        "claude-haiku-test"
    )


def test_as_provider_routes_by_model_family(settings: Settings) -> None:
    claude, gemini = (
        ScriptedProvider(function=lambda r: "c", name="c"),
        ScriptedProvider(function=lambda r: "g", name="g"),
    )
    ps = ProviderSet(
        {"claude": SlotBinding("c", "sonnet"), "gemini": SlotBinding("g", "gemini-test")},
        settings=settings,
        providers={"c": claude, "g": gemini},
    )
    router = ps.as_provider()
    assert isinstance(router, Provider)
    assert router.complete(LLMRequest.from_prompt("gemini-2.5-pro", "x")).text == "g"
    assert router.complete(LLMRequest.from_prompt("claude-haiku-4-5", "x")).text == "c"
    assert router.complete(LLMRequest.from_prompt("haiku", "x")).text == "c"
    assert claude.requests[-1].model == "claude-haiku-test"
    claude_only = ProviderSet(
        {"claude": SlotBinding("c", "sonnet")}, settings=settings, providers={"c": claude}
    )
    assert claude_only.as_provider().complete(LLMRequest.from_prompt("gemini-x", "y")).text == "c"


def test_override_can_add_a_slot_only_with_a_provider(settings: Settings) -> None:
    ps = ProviderSet(settings=settings)
    extra = ps.with_overrides({"critic": {"provider": "mock", "model": "haiku"}})
    assert extra.complete("critic", LLMRequest.from_prompt("", "z")).model == "claude-haiku-test"
    with pytest.raises(ProviderConfigError, match="new slot needs a 'provider'"):
        ps.with_overrides({"critic": {"model": "haiku"}})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"claude": {"provider": "openai"}}, "unknown provider 'openai'"),
        ({"claude": {"provider": "mock", "temp": 1}}, "unknown key.*temp"),
        ({"claude": {"model": 3}}, r"providers.claude.model: expected a non-empty string"),
        ({"claude": {"model": " "}}, "non-empty string"),
    ],
)
def test_bad_overrides_are_config_errors(
    settings: Settings, override: dict[str, object], message: str
) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        ProviderSet(settings=settings).with_overrides(override)


def test_slot_without_any_model_is_an_error(settings: Settings) -> None:
    ps = ProviderSet({"claude": SlotBinding("mock")}, settings=settings)
    with pytest.raises(ProviderConfigError, match="no default model"):
        ps.complete("claude", LLMRequest.from_prompt("", "x"))


def test_for_provider_anthropic_is_lazy(settings: Settings) -> None:
    ps = ProviderSet.for_provider("anthropic", settings)
    assert ps.bindings["claude"].provider == "anthropic"
    assert ps.bindings["gemini"].provider == "gemini"
    # building fails only when the slot is used (no key configured)
    with pytest.raises(ProviderConfigError, match="ANTHROPIC_API_KEY"):
        ps.complete("claude", LLMRequest.from_prompt("", "x"))


def test_for_provider_replay_misses_clearly(settings: Settings) -> None:
    ps = ProviderSet.for_provider("replay", settings)
    with pytest.raises(ReplayMiss, match=r"cassette\.jsonl"):
        ps.complete("claude", LLMRequest.from_prompt("", "x"))


def test_using_one_instance_for_every_slot(settings: Settings) -> None:
    mock = MockProvider(name="mine")
    ps = ProviderSet.using(mock, settings=settings)
    ps.complete("claude", LLMRequest.from_prompt("", "x"))
    ps.complete("gemini", LLMRequest.from_prompt("", "x"))
    assert mock.calls == 2
    assert ps.provider_for("claude") is mock
    # overrides naming real providers still go to the one instance (sandbox pipe)
    rebound = ps.with_overrides({"claude": {"provider": "anthropic", "model": "opus"}})
    assert rebound.complete("claude", LLMRequest.from_prompt("", "x")).model == "claude-opus-test"
    assert rebound.provider_for("claude") is mock
    assert mock.calls == 3


def test_providers_are_built_once_shared_and_wrapped(settings: Settings) -> None:
    built: list[tuple[str, str]] = []
    lock = threading.Lock()

    def factory(name: str, slot: str) -> Provider:
        with lock:
            built.append((name, slot))
        return MockProvider()

    ps = ProviderSet(settings=settings, factory=factory, wrap=CachingProvider)
    derived = ps.with_overrides({"gemini": {"model": "gemini-2.5-pro"}})
    request = LLMRequest.from_prompt("", "same")
    threads = [
        threading.Thread(target=s.complete, args=(slot, request))
        for s in (ps, derived)
        for slot in ("claude", "gemini")
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(built) == [("mock", "claude"), ("mock", "gemini")]
    claude = ps.provider_for("claude")
    assert isinstance(claude, CachingProvider)
    assert derived.provider_for("claude") is claude
    assert claude.stats().hits + claude.stats().misses == 20


def test_locked_set_refuses_a_provider_it_does_not_bind() -> None:
    locked = ProviderSet.for_provider("mock").locked()
    assert locked.with_overrides({"claude": {"model": "haiku"}}).model_for("claude")
    with pytest.raises(ProviderConfigError, match="not allowed here; allowed: mock"):
        locked.with_overrides({"claude": {"provider": "anthropic"}})
    # Derived sets stay locked.
    with pytest.raises(ProviderConfigError, match="not allowed"):
        locked.with_overrides({"claude": {"model": "haiku"}}).with_overrides(
            {"gemini": {"provider": "gemini"}}
        )
