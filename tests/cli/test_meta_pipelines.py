"""The meta pipelines validate and run on mock, anthropic (fake server) and replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.cli.main import app
from evofarm.settings import get_settings
from evofarm.testing.fake_anthropic import FakeAnthropicServer

META = Path(__file__).resolve().parents[2] / "pipelines" / "meta"
FILES = sorted(p.name for p in META.glob("*.yaml"))
#: The proposer meta pipelines answer with a pipeline in a fenced YAML block (the
#: agent workflow's own meta pipelines are run in tests/agent/test_meta_pipelines.py).
PROPOSERS = ["breeding_chamber.yaml", "genesis_pipeline.yaml", "reflective_mutation.yaml"]
runner = CliRunner()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(
        handler=lambda request: "CHANGE: c\nWHY: w\n```yaml\nx: 1\n```\n"
    ) as fake:
        monkeypatch.setenv("EVOFARM_ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("EVOFARM_ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setenv("EVOFARM_REPLAY_CASSETTE", str(tmp_path / "cassette.jsonl"))
        get_settings.cache_clear()
        yield fake
        get_settings.cache_clear()


def run(name: str, provider: str, tmp_path: Path) -> dict[str, object]:
    result = runner.invoke(
        app,
        ["pipeline", "run", str(META / name), "--provider", provider, "--strict", "--json",
         "--workspace", str(tmp_path / "ws")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trace: dict[str, object] = json.loads(result.stdout)
    return trace


def test_the_three_meta_pipelines_exist_and_validate() -> None:
    assert {"reflective_mutation.yaml", "breeding_chamber.yaml", "genesis_pipeline.yaml"} <= set(
        FILES
    )
    for name in FILES:
        result = runner.invoke(app, ["pipeline", "validate", str(META / name)])
        assert result.exit_code == 0, result.output
        assert (META / name).read_text().startswith("# ")  # the header comment


@pytest.mark.parametrize("name", PROPOSERS)
def test_each_runs_on_mock_anthropic_and_replay(
    name: str, server: FakeAnthropicServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(name, "mock", tmp_path)["status"] == "completed"
    live = run(name, "anthropic", tmp_path)
    assert live["status"] == "completed" and "```yaml" in str(live["output"])
    monkeypatch.setenv("EVOFARM_REPLAY_MODE", "record")
    get_settings.cache_clear()
    run(name, "replay", tmp_path)
    calls = len(server.message_requests)
    monkeypatch.setenv("EVOFARM_REPLAY_MODE", "replay")
    get_settings.cache_clear()
    replayed = run(name, "replay", tmp_path)
    assert replayed["output"] == live["output"] and len(server.message_requests) == calls
