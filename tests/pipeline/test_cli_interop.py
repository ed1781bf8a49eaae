"""``evofarm pipeline export`` and the CLI side of pipeline_ex compatibility
(warnings once per key, ``--allow-dir``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from evofarm.cli import main
from evofarm.pipeline.loader import load_pipeline

from .compat_corpus import EXTRA
from .pipeline_ex_rules import pipeline_ex_problems

SDK = EXTRA / "claude_code_sdk_settings.yaml"

WINNER = """\
name: winner
providers:
  claude: {provider: mock, model: haiku}
steps:
  - {name: ask, type: claude, prompt: "Summarize {{inputs.text}}"}
"""


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def test_validate_prints_one_warning_per_compat_key_on_stderr(runner: CliRunner) -> None:
    result = runner.invoke(main.app, ["pipeline", "validate", str(SDK)])
    assert result.exit_code == 0
    assert result.stdout == f"{SDK}: OK (1 steps)\n"
    warnings = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert len(warnings) == 14
    assert sum("'hooks' is accepted" in line for line in warnings) == 1
    assert any(line.startswith(f"{SDK}:7:3: hooks: warning:") for line in warnings)


def test_run_prints_the_warnings_once_and_keeps_json_on_stdout(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = EXTRA / "generated_pipeline.yaml"
    result = runner.invoke(
        main.app, ["pipeline", "run", str(path), "--json", "--workspace", str(tmp_path / "ws")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    assert result.stderr.count("warning:") == 2


def test_allow_dir_lets_a_relative_file_part_leave_the_base_dir(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "style.md").write_text("Be terse.")
    (tmp_path / "pipelines").mkdir()
    pipeline = tmp_path / "pipelines" / "p.yaml"
    pipeline.write_text(
        "workflow:\n  name: p\n  steps:\n    - name: a\n      type: claude\n"
        "      prompt:\n        - {type: file, path: ../prompts/style.md}\n"
    )
    base = ["pipeline", "run", str(pipeline), "--json", "--workspace", str(tmp_path / "ws")]
    base += ["--base-dir", str(tmp_path / "pipelines")]
    refused = runner.invoke(main.app, base)
    assert refused.exit_code == 1
    assert "outside the allowed directories" in json.loads(refused.stdout)["error"]
    allowed = runner.invoke(main.app, [*base, "--allow-dir", str(tmp_path / "prompts")])
    assert allowed.exit_code == 0, allowed.output
    assert "Be terse" in json.loads(allowed.stdout)["output"]
    missing = runner.invoke(main.app, [*base, "--allow-dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "not a directory" in missing.output


def test_export_writes_pipeline_ex_yaml_with_notes(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "winner.yaml"
    source.write_text(WINNER)
    out = tmp_path / "out.yaml"
    result = runner.invoke(
        main.app, ["pipeline", "export", str(source), "--target", "pipeline_ex", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "note: providers.claude.provider 'mock': dropped" in result.stderr
    document = yaml.safe_load(out.read_text())
    assert pipeline_ex_problems(document) == []
    step = document["workflow"]["steps"][0]
    assert step["claude_options"]["model"] == "haiku"
    assert step["prompt"] == [{"type": "static", "content": "Summarize {{inputs.text}}"}]
    assert load_pipeline(out).steps[0].name == "ask"


def test_export_to_stdout_and_refusal(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main.app, ["pipeline", "export", str(SDK)])
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["workflow"]["hooks"]  # pipeline_ex gives it meaning
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: b\nsteps:\n  - {name: t, type: transform, input: x, operations: [{op: upper}]}\n"
    )
    out = tmp_path / "never.yaml"
    refused = runner.invoke(main.app, ["pipeline", "export", str(bad), "-o", str(out)])
    assert refused.exit_code == 2
    assert "step 't' (transform)" in refused.output and "Traceback" not in refused.output
    assert not out.exists()
    unknown = runner.invoke(main.app, ["pipeline", "export", str(bad), "--target", "airflow"])
    assert unknown.exit_code == 2 and "unknown export target 'airflow'" in unknown.output
