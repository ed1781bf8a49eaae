"""The response cache and the rate limit around a campaign's providers, on the real path.

The campaign runtime (what the in-process loop and the farm's in-process and
sandbox evaluators build) wraps every provider; these tests run candidates
through that runtime and look at what reached the provider.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evofarm.campaign.candidate_runtime import provider_set, runtime_factory
from evofarm.campaign.spec import load_campaign
from evofarm.errors import ProviderConfigError
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.providers.cache import CachingProvider
from evofarm.settings import Settings, get_settings

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"


def _asking(*prompts: str) -> str:
    steps = "".join(
        f"""
    - name: ask{i}
      type: claude
      claude_options: {{temperature: 0}}
      prompt: [{{type: static, content: "{prompt}"}}]
"""
        for i, prompt in enumerate(prompts)
    )
    return f"workflow:\n  name: asker\n  steps:{steps}"


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set EVOFARM_* variables for one test; the process settings are re-read."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_repeated_temperature_zero_call_is_answered_from_the_cache() -> None:
    spec = load_campaign(DEMO)
    runtime = runtime_factory(spec)(None)  # type: ignore[arg-type]
    pipeline = load_pipeline_text(_asking("what is 2+2?"))
    first = run_pipeline(pipeline, runtime=runtime)
    second = run_pipeline(pipeline, runtime=runtime)  # the next case asks the same
    cache = runtime.providers.provider_for("claude")
    assert isinstance(cache, CachingProvider)
    stats = cache.stats()
    assert (stats.misses, stats.hits) == (1, 1)
    # A hit is invisible to scoring: same answer, same usage.
    assert first.status == second.status == "completed"
    assert first.output == second.output
    assert first.usage.input_tokens == second.usage.input_tokens
    assert first.usage.output_tokens == second.usage.output_tokens


def test_the_cache_can_be_turned_off(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("EVOFARM_RESPONSE_CACHE", "false")
    runtime = runtime_factory(load_campaign(DEMO))(None)  # type: ignore[arg-type]
    assert not isinstance(runtime.providers.provider_for("claude"), CachingProvider)


def test_a_configured_rate_limit_paces_the_calls(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("EVOFARM_PROVIDER_RPM", '{"mock": 300}')  # one call per 0.2 s
    settings_env.setenv("EVOFARM_RESPONSE_CACHE", "false")
    runtime = runtime_factory(load_campaign(DEMO))(None)  # type: ignore[arg-type]
    pipeline = load_pipeline_text(_asking("one", "two", "three", "four"))
    started = time.monotonic()
    trace = run_pipeline(pipeline, runtime=runtime)
    elapsed = time.monotonic() - started
    assert trace.status == "completed" and trace.usage.llm_calls == 4
    # The first call goes at once, each later one waits its 0.2 s turn.
    assert elapsed >= 3 * 0.2 - 0.02


@pytest.mark.parametrize(
    ("rpm", "message"),
    [({"antropic": 10.0}, "unknown provider 'antropic'"), ({"mock": 0.0}, "must be > 0")],
)
def test_a_bad_rate_limit_setting_is_refused_up_front(rpm: dict[str, float], message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message) as info:
        provider_set(load_campaign(DEMO), Settings(provider_rpm=rpm))
    assert "EVOFARM_PROVIDER_RPM" in str(info.value)
