"""``evofarm genesis``: a valid pipeline written, or a non-zero exit with the reasons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.cli.main import app
from evofarm.pipeline.loader import load_pipeline
from evofarm.settings import get_settings
from evofarm.testing.fake_anthropic import FakeAnthropicServer, FakeReply
from evofarm.testing.llm_campaign import FIXED, fenced, write_campaign

runner = CliRunner()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        monkeypatch.setenv("EVOFARM_ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("EVOFARM_ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setenv("EVOFARM_ANTHROPIC_MAX_RETRIES", "0")
        get_settings.cache_clear()
        yield fake
        get_settings.cache_clear()


def test_genesis_writes_a_valid_pipeline_after_retrying_an_invalid_one(
    server: FakeAnthropicServer, tmp_path: Path
) -> None:
    write_campaign(tmp_path)
    server.push(
        FakeReply.ok("analysis 1"), FakeReply.ok("Here is my idea, no YAML."),
        FakeReply.ok("analysis 2"), FakeReply.ok(fenced(FIXED), input_tokens=50, output_tokens=25),
    )  # fmt: skip
    out = tmp_path / "namer.yaml"
    result = runner.invoke(
        app,
        ["genesis", "Title-case a name", "--suite", str(tmp_path / "suite.yaml"), "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert [s.name for s in load_pipeline(out).steps] == ["clean"]
    assert "2 proposal(s)" in result.output
    asked = server.message_requests[0].prompt_text
    assert "Title-case a name" in asked and "Alan Turing" in asked


def test_genesis_exits_non_zero_with_the_reasons(
    server: FakeAnthropicServer, tmp_path: Path
) -> None:
    server.set_handler(
        lambda request: fenced("workflow:\n  name: x\n  steps:\n    - {name: a, type: warp}\n")
    )
    out = tmp_path / "x.yaml"
    result = runner.invoke(app, ["genesis", "anything", "--tries", "2", "-o", str(out)])
    assert result.exit_code == 1
    assert "no valid pipeline in 2 proposal(s): unknown_step_type x2" in result.output
    assert not out.exists()


def test_genesis_names_a_bad_provider(tmp_path: Path) -> None:
    result = runner.invoke(app, ["genesis", "x", "--provider", "nope", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--provider" in result.output
