"""The agent's meta pipelines: valid, and runnable on mock, anthropic (fake server) and replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from evofarm.cli import main
from evofarm.settings import get_settings
from evofarm.testing.fake_anthropic import FakeAnthropicServer, FakeReply

REPO = Path(__file__).resolve().parents[2]
META = REPO / "pipelines" / "meta"
SUITES = REPO / "pipelines" / "suites"
MINE = ("self_improvement_loop.yaml", "pipeline_factory.yaml", "pipeline_nursery.yaml")
KEY = "sk-test-agent"

WEAK = """\
workflow:
  name: titler
  inputs: {text: ""}
  steps:
    - {name: out, type: transform, input: "{{inputs.text}}", operations: [{op: strip}]}
"""
STRONG = WEAK.replace("[{op: strip}]", "[{op: strip}, {op: title}]")
ANSWER = f"I added a title-case operation after the strip.\n```yaml\n{STRONG}```\n"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _run(
    runner: CliRunner, tmp_path: Path, name: str, provider: str, inputs: dict[str, Any]
) -> dict[str, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    inputs_file = tmp_path / f"{name}.inputs.yaml"
    inputs_file.write_text(yaml.safe_dump(inputs))
    result = runner.invoke(
        main.app,
        [
            "pipeline", "run", str(META / name), "--provider", provider, "--json",
            "--inputs-file", str(inputs_file), "--workspace", str(tmp_path / "ws"),
            "--suites-dir", str(SUITES),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trace: dict[str, Any] = json.loads(result.stdout)
    return trace


@pytest.mark.parametrize("name", MINE)
def test_valid_with_a_header(runner: CliRunner, name: str) -> None:
    result = runner.invoke(main.app, ["pipeline", "validate", str(META / name)])
    assert result.exit_code == 0, result.output
    header = (META / name).read_text().split("workflow:")[0]
    assert "Takes:" in header and "Returns:" in header


@pytest.mark.parametrize("name", MINE)
def test_runs_on_mock(runner: CliRunner, tmp_path: Path, name: str) -> None:
    trace = _run(runner, tmp_path, name, "mock", {"pipeline_yaml": WEAK})
    assert trace["status"] == "completed"


def test_self_improvement_deploys_only_a_better_version(
    runner: CliRunner, tmp_path: Path, clean_settings: pytest.MonkeyPatch
) -> None:
    inputs = {"pipeline_yaml": WEAK, "current_fitness": 0.5, "suite": "example-text"}
    with FakeAnthropicServer(
        [FakeReply.ok("The out step never title-cases."), FakeReply.ok(ANSWER)], api_key=KEY
    ) as server:
        clean_settings.setenv("EVOFARM_ANTHROPIC_API_KEY", KEY)
        clean_settings.setenv("EVOFARM_ANTHROPIC_BASE_URL", server.base_url)
        trace = _run(runner, tmp_path, "self_improvement_loop.yaml", "anthropic", inputs)
        prompts = [r.prompt_text for r in server.requests]
    steps = trace["steps"]
    assert steps["test_improvement"]["result"]["fitness"] > 0.5
    assert steps["deploy_if_better"]["result"]["deployed"] is True
    assert "title" in (tmp_path / "ws" / "improved.yaml").read_text()
    # the proposer saw the pipeline and the analysis
    assert "strip" in prompts[0] and "never title-cases" in str(prompts[1])

    # the same answer when the current version is already better: nothing deployed
    with FakeAnthropicServer([FakeReply.ok("fine"), FakeReply.ok(ANSWER)], api_key=KEY) as server:
        clean_settings.setenv("EVOFARM_ANTHROPIC_BASE_URL", server.base_url)
        get_settings.cache_clear()
        trace = _run(
            runner, tmp_path / "again", "self_improvement_loop.yaml", "anthropic",
            {**inputs, "current_fitness": 1.0},
        )  # fmt: skip
    assert trace["steps"]["deploy_if_better"]["skipped"] is True


def test_replay_reproduces_a_recorded_run(
    runner: CliRunner, tmp_path: Path, clean_settings: pytest.MonkeyPatch
) -> None:
    cassette = tmp_path / "cassette.jsonl"
    inputs = {"pipeline_yaml": WEAK, "current_fitness": 0.5, "suite": "example-text"}
    clean_settings.setenv("EVOFARM_REPLAY_CASSETTE", str(cassette))
    clean_settings.setenv("EVOFARM_ANTHROPIC_API_KEY", KEY)
    with FakeAnthropicServer([FakeReply.ok("analysis"), FakeReply.ok(ANSWER)], api_key=KEY) as s:
        clean_settings.setenv("EVOFARM_ANTHROPIC_BASE_URL", s.base_url)
        clean_settings.setenv("EVOFARM_REPLAY_MODE", "record")
        recorded = _run(runner, tmp_path / "rec", "self_improvement_loop.yaml", "replay", inputs)
    clean_settings.setenv("EVOFARM_REPLAY_MODE", "replay")
    get_settings.cache_clear()
    replayed = _run(runner, tmp_path / "rep", "self_improvement_loop.yaml", "replay", inputs)

    def results(trace: dict[str, Any]) -> dict[str, Any]:
        return {k: v["result"] for k, v in trace["steps"].items()}

    assert results(replayed) == results(recorded)
    assert recorded["steps"]["deploy_if_better"]["result"]["deployed"] is True


def test_nursery_certifies_a_strong_pipeline_and_stops_a_weak_one(
    runner: CliRunner, tmp_path: Path
) -> None:
    strong = _run(
        runner, tmp_path / "s", "pipeline_nursery.yaml", "mock", {"pipeline_yaml": STRONG}
    )
    steps = strong["steps"]
    assert all(not steps[s]["skipped"] for s in ("stage_testing", "stage_certification"))
    assert steps["certify"]["result"]["deployed"] is True
    # upper-casing passes the screen (0.83) and testing (0.76) but not certification
    upper = WEAK.replace("[{op: strip}]", "[{op: upper}]")
    mid = _run(runner, tmp_path / "m", "pipeline_nursery.yaml", "mock", {"pipeline_yaml": upper})
    assert not mid["steps"]["stage_certification"]["skipped"]
    assert mid["steps"]["certify"]["skipped"] is True
    # a pipeline that does not even load stops at the cheap screen
    broken = _run(runner, tmp_path / "b", "pipeline_nursery.yaml", "mock", {"pipeline_yaml": "["})
    assert broken["steps"]["stage_training"]["result"]["outcome"] == "invalid"
    assert broken["steps"]["stage_testing"]["skipped"] is True


def test_factory_designs_in_parallel_for_speed_cost_and_accuracy(
    runner: CliRunner, tmp_path: Path
) -> None:
    trace = _run(runner, tmp_path, "pipeline_factory.yaml", "mock", {"requests": "slugify"})
    assert set(trace["steps"]["design_batch"]["result"]) == {"speed", "cost", "accuracy"}
    assert trace["usage"]["llm_calls"] == 5
