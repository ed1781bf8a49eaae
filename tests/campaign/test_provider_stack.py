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
from evofarm.campaign.spec import EconomyConfig, load_campaign
from evofarm.errors import ProviderConfigError
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.providers.cache import CachingProvider
from evofarm.providers.metered import MeteredProvider
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
    metered = runtime.providers.provider_for("claude")
    assert isinstance(metered, MeteredProvider)
    cache = metered.inner
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
    metered = runtime.providers.provider_for("claude")
    assert isinstance(metered, MeteredProvider)
    assert not isinstance(metered.inner, CachingProvider)


def test_a_configured_rate_limit_paces_the_calls(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("EVOFARM_RATE_LIMITS", '{"mock": {"requests_per_minute": 300}}')
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
    ("limits", "message"),
    [
        ('{"antropic": {"requests_per_minute": 10}}', "unknown provider 'antropic'"),
        ('{"mock": {"requests_per_minute": 0}}', "greater than 0"),
        ('{"mock": {"rpm": 10}}', "rpm"),
        ("not json", "EVOFARM_RATE_LIMITS"),
    ],
)
def test_a_bad_rate_limit_setting_is_refused_up_front(limits: str, message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message) as info:
        provider_set(load_campaign(DEMO), Settings(rate_limits=limits))
    assert "EVOFARM_RATE_LIMITS" in str(info.value)


def test_a_campaign_may_lower_but_not_raise_the_farm_s_limits() -> None:
    spec = load_campaign(DEMO)
    farm = Settings(rate_limits='{"mock": {"requests_per_minute": 600}}')
    lower = spec.model_copy(
        update={"economy": EconomyConfig(rate_limits={"mock": {"requests_per_minute": 60}})}
    )
    provider_set(lower, farm)
    higher = spec.model_copy(
        update={"economy": EconomyConfig(rate_limits={"mock": {"requests_per_minute": 6000}})}
    )
    with pytest.raises(ProviderConfigError, match="only lower"):
        provider_set(higher, farm)
