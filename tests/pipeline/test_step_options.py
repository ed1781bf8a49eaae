"""pipeline_ex options the executor enforces: timeout_ms, retry_on_error /
retry_config, nested config (timeout_seconds, max_retries, continue_on_error),
file part encoding."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evofarm.errors import ProviderConfigError, ProviderUnavailable, UserInputError
from evofarm.pipeline import step_policy
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.runtime import RunLimits
from evofarm.providers.base import LLMRequest
from evofarm.providers.mock import ScriptedProvider

from .exec_helpers import run_text


@pytest.fixture(autouse=True)
def _no_backoff_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(step_policy, "BACKOFF_BASE_S", 0.0)


def slow(seconds: float) -> ScriptedProvider:
    def answer(request: LLMRequest) -> str:
        time.sleep(seconds)
        return "late"

    return ScriptedProvider(function=answer)


CLAUDE = "name: t\n{defaults}steps:\n  - name: ask\n    type: claude\n{options}    prompt: hi\n"


def test_timeout_ms_is_a_per_step_wall_limit(tmp_path: Path) -> None:
    text = CLAUDE.format(defaults="", options="    claude_options: {timeout_ms: 50}\n")
    started = time.monotonic()
    trace = run_text(text, tmp_path, provider=slow(0.5))
    assert time.monotonic() - started < 0.4
    assert trace.status == "failed" and trace.limit == "step_timeout_s"
    assert trace.error_step == "ask" and "0.05s" in (trace.error or "")


def test_defaults_timeout_ms_applies_to_claude_steps(tmp_path: Path) -> None:
    defaults = "defaults:\n  claude_options: {timeout_ms: 50}\n"
    trace = run_text(CLAUDE.format(defaults=defaults, options=""), tmp_path, provider=slow(0.5))
    assert trace.status == "failed" and trace.limit == "step_timeout_s"


def test_timeout_ms_cannot_raise_the_runtime_limit(tmp_path: Path) -> None:
    text = CLAUDE.format(defaults="", options="    claude_options: {timeout_ms: 60000}\n")
    limits = RunLimits(step_timeout_s=0.05)
    trace = run_text(text, tmp_path, provider=slow(0.5), limits=limits)
    assert trace.status == "failed" and trace.limit == "step_timeout_s"


def test_retry_on_error_retries_provider_failures(tmp_path: Path) -> None:
    defaults = "defaults:\n  retry_on_error: true\n"
    provider = ScriptedProvider([ProviderUnavailable("529"), ProviderUnavailable("500"), "ok"])
    trace = run_text(CLAUDE.format(defaults=defaults, options=""), tmp_path, provider=provider)
    assert trace.status == "completed" and trace.output == "ok"
    assert trace.steps["ask"].retries == 2 and len(provider.requests) == 3


def test_retry_config_bounds_the_retries(tmp_path: Path) -> None:
    options = "    claude_options:\n      retry_config: {max_retries: 1}\n"
    provider = ScriptedProvider([ProviderUnavailable("a"), ProviderUnavailable("b"), "never"])
    with pytest.raises(ProviderUnavailable):
        run_text(CLAUDE.format(defaults="", options=options), tmp_path, provider=provider)
    assert len(provider.requests) == 2


def test_without_retry_options_a_provider_failure_propagates(tmp_path: Path) -> None:
    provider = ScriptedProvider([ProviderUnavailable("down"), "unused"])
    with pytest.raises(ProviderUnavailable):
        run_text(CLAUDE.format(defaults="", options=""), tmp_path, provider=provider)
    assert len(provider.requests) == 1


def test_configuration_errors_are_not_retried(tmp_path: Path) -> None:
    defaults = "defaults:\n  retry_on_error: true\n"
    provider = ScriptedProvider([ProviderConfigError("bad key"), "unused"])
    with pytest.raises(ProviderConfigError):
        run_text(CLAUDE.format(defaults=defaults, options=""), tmp_path, provider=provider)
    assert len(provider.requests) == 1


NESTED = """
name: parent
steps:
  - name: sub
    type: pipeline
    config: {config}
    pipeline:
      name: child
      steps:
        - name: read
          type: claude
          prompt:
            - type: file
              path: absent.txt
  - name: fallback
    type: test_echo
    condition: "sub.error != null"
    value: "recovered: {{{{steps.sub.success}}}}"
"""


def test_nested_max_retries_reruns_the_pipeline(tmp_path: Path) -> None:
    trace = run_text(NESTED.format(config="{max_retries: 2}"), tmp_path)
    assert trace.status == "failed" and trace.error_step == "sub"
    assert trace.steps["sub"].retries == 2


def test_nested_continue_on_error_returns_the_error(tmp_path: Path) -> None:
    trace = run_text(NESTED.format(config="{continue_on_error: true}"), tmp_path)
    assert trace.status == "completed", trace.error
    result = trace.steps["sub"].result
    assert result["success"] is False and "absent.txt" in result["error"]
    assert trace.output == "recovered: false"


def test_nested_continue_on_error_does_not_swallow_limits(tmp_path: Path) -> None:
    trace = run_text(
        NESTED.format(config="{continue_on_error: true, max_retries: 3}"),
        tmp_path,
        limits=RunLimits(max_depth=0),
    )
    assert trace.status == "failed" and trace.limit == "max_depth"
    assert trace.steps["sub"].retries == 0


def test_nested_timeout_seconds_limits_the_step(tmp_path: Path) -> None:
    text = """
name: parent
steps:
  - name: sub
    type: pipeline
    config: {timeout_seconds: 1}
    pipeline:
      name: child
      steps:
        - {name: ask, type: claude, prompt: hi}
"""
    trace = run_text(text, tmp_path, provider=slow(3.0))
    assert trace.status == "failed" and trace.limit == "step_timeout_s"
    assert trace.error_step == "sub"


FILE_PROMPT = """
name: enc
steps:
  - name: ask
    type: claude
    prompt:
      - type: file
        path: data.txt
        encoding: {encoding}
"""


@pytest.mark.parametrize(
    ("encoding", "content", "expected"),
    [
        ("utf-16", "héllo".encode("utf-16"), "héllo"),
        ("latin-1", "héllo".encode("latin-1"), "héllo"),
        ("base64", b"\x00\x01binary", "AAFiaW5hcnk="),
    ],
)
def test_file_part_encoding(tmp_path: Path, encoding: str, content: bytes, expected: str) -> None:
    (tmp_path / "data.txt").write_bytes(content)
    trace = run_text(FILE_PROMPT.format(encoding=encoding), tmp_path)
    assert trace.status == "completed", trace.error
    assert expected in trace.output


def test_file_part_wrong_encoding_fails_the_step(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_bytes("héllo".encode("latin-1"))
    trace = run_text(FILE_PROMPT.format(encoding="utf-8"), tmp_path)
    assert trace.status == "failed" and "data.txt" in (trace.error or "")


@pytest.mark.parametrize("encoding", ["klingon", "zlib"])
def test_unknown_encoding_is_a_load_error(encoding: str) -> None:
    with pytest.raises(UserInputError, match=r"<string>:9:19: steps\[0\]\.prompt\[0\]\.encoding"):
        load_pipeline_text(FILE_PROMPT.format(encoding=encoding))
