"""``evofarm pipeline run``: inputs, --json contract, human output, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evofarm.cli import main
from evofarm.cli.pipeline_run import parse_input

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "compat" / "pipeline_ex"
NESTED = CORPUS / "test" / "fixtures" / "pipelines" / "nested_processor.yaml"

TYPES = """\
name: types
steps:
  - name: echo
    type: test_echo
    value: {n: "{{inputs.n}}", f: "{{inputs.f}}", b: "{{inputs.b}}", s: "{{inputs.s}}",
            from_file: "{{inputs.extra}}"}
"""


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        main.app, ["pipeline", "run", *args, "--workspace", str(tmp_path / "ws")]
    )
    return result.exit_code, result.stdout, result.stderr


def test_json_output_of_the_manifest_run(runner: CliRunner, tmp_path: Path) -> None:
    code, out, _ = invoke(
        runner,
        tmp_path,
        str(NESTED),
        "--input",
        "item_name=widget",
        "--input",
        "item_count=3",
        "--input",
        "multiplier=4",
        "--json",
    )
    assert code == 0
    data = json.loads(out)  # exactly one JSON object
    assert data["status"] == "completed"
    steps = data["steps"]
    assert steps["multiply_count"]["result"] == 12
    assert steps["final_count"] == steps["final_count"] | {"result": 12, "status": "completed"}
    assert steps["analysis"]["result"]["details"] == "Final count: 12"
    assert steps["process_input"]["skipped"] is False
    assert set(data["usage"]) >= {"input_tokens", "output_tokens", "cost_usd", "llm_calls"}


def test_inputs_are_yaml_scalars_and_override_the_inputs_file(
    runner: CliRunner, tmp_path: Path
) -> None:
    pipeline = tmp_path / "types.yaml"
    pipeline.write_text(TYPES)
    inputs_file = tmp_path / "inputs.yaml"
    inputs_file.write_text("extra: [1, 2]\nn: 1\n")
    code, out, _ = invoke(
        runner,
        tmp_path,
        str(pipeline),
        "--inputs-file",
        str(inputs_file),
        "-i",
        "n=3",
        "-i",
        "f=2.5",
        "-i",
        "b=true",
        "-i",
        "s=a: b",
        "--json",
    )
    assert code == 0
    echoed = json.loads(out)["steps"]["echo"]["result"]
    assert echoed == {"n": 3, "f": 2.5, "b": True, "s": "a: b", "from_file": [1, 2]}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("k=3", ("k", 3)),
        ("k=x=y", ("k", "x=y")),
        ("k=", ("k", "")),
        ("k=[1]", ("k", "[1]")),
        ("k=null", ("k", None)),
        (" k =007", ("k", 7)),
    ],
)
def test_parse_input(raw: str, expected: tuple[str, Any]) -> None:
    assert parse_input(raw) == expected


def test_human_output_and_failed_run_exit_code(runner: CliRunner, tmp_path: Path) -> None:
    pipeline = tmp_path / "fail.yaml"
    pipeline.write_text(
        "name: fail\nsteps:\n  - {name: ok, type: test_echo, value: fine}\n"
        "  - name: bad\n    type: claude\n    prompt:\n      - {type: file, path: nope.txt}\n"
    )
    code, out, _ = invoke(runner, tmp_path, str(pipeline))
    assert code == 1
    assert "ok" in out and "fine" in out and "failed" in out and "nope.txt" in out
    code, out, _ = invoke(runner, tmp_path, str(pipeline), "--json")
    data = json.loads(out)
    assert code == 1 and data["status"] == "failed" and data["error_step"] == "bad"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["missing.yaml"], "missing.yaml"),
        (["{pipeline}", "--input", "novalue"], "KEY=VALUE"),
        (["{pipeline}", "--provider", "openai"], "openai"),
        (["{pipeline}", "--inputs-file", "{pipeline}x"], "cannot read"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    runner: CliRunner, tmp_path: Path, args: list[str], words: str
) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: p\nsteps:\n  - {name: a, type: test_echo, value: 1}\n")
    filled = [a.replace("{pipeline}", str(pipeline)) for a in args]
    code, _, err = invoke(runner, tmp_path, *filled)
    assert code == 2
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from evofarm.cli.main import main; main()",
            "pipeline",
            "run",
            str(NESTED),
            "--json",
            "--workspace",
            str(tmp_path / "ws"),
            "-i",
            "item_name=x",
            "-i",
            "item_count=2",
            "-i",
            "multiplier=5",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["steps"]["final_count"]["result"] == 10


META = """
name: meta
steps:
  - name: produce
    type: test_echo
    value: |
      name: child
      steps:
        - name: up
          type: transform
          input: "{{inputs.text}}"
          operations: [{op: upper}]
  - name: score
    type: pipeline_executor
    pipeline_source: produce
    suite: upper
"""

UPPER_SUITE = """
name: upper
cases:
  - inputs: {text: abc}
    checks: [{type: equals, value: ABC, required: true}]
  - inputs: {text: x}
    checks: [{type: equals, value: "no", required: true}]
"""


def test_pipeline_executor_steps_run_from_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "upper.yaml").write_text(UPPER_SUITE)
    (tmp_path / "meta.yaml").write_text(META)
    code, out, _ = invoke(
        runner,
        tmp_path,
        str(tmp_path / "meta.yaml"),
        "--suites-dir",
        str(tmp_path / "suites"),
        "--json",
    )
    assert code == 0, out
    result = json.loads(out)["steps"]["score"]["result"]
    assert (result["passed"], result["total"], result["outcome"]) == (1, 2, "ok")


DECLARED = """\
name: declared
inputs:
  when: ""
  count: 0
steps:
  - name: echo
    type: test_echo
    value: "{{inputs.when}} x{{inputs.count}}"
"""


def test_text_inputs_stay_text_and_undeclared_ones_get_a_warning(
    runner: CliRunner, tmp_path: Path
) -> None:
    pipeline = tmp_path / "declared.yaml"
    pipeline.write_text(DECLARED)
    code, out, err = invoke(
        runner, tmp_path, str(pipeline), "-i", "when=2021-11-11", "-i", "count=3", "-i", "typo=1"
    )
    assert code == 0, out + err
    assert "warning: input 'typo' is not declared by the pipeline (declared: count, when)" in err
    # the final output is printed in full after the table
    assert out.rstrip().splitlines()[-1] == "2021-11-11 x3"
    assert out.rstrip().splitlines()[-2] == "output:"


def test_no_workspace_unless_a_step_writes_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = tmp_path / "declared.yaml"
    pipeline.write_text(DECLARED)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main.app, ["pipeline", "run", str(pipeline)])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "workspace").exists()
    writer = tmp_path / "writer.yaml"
    writer.write_text(
        "name: writer\nsteps:\n  - {name: e, type: test_echo, value: hi, output_to_file: o.txt}\n"
    )
    result = CliRunner().invoke(main.app, ["pipeline", "run", str(writer)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "workspace").is_dir()
