"""``evofarm pipeline validate FILE...``: one line per problem, exit 0 only if all valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.cli import main

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "compat" / "pipeline_ex"

GOOD = "name: good\nsteps:\n  - {name: a, type: test_echo, value: 1}\n"
BAD = """\
workflow:
  name: bad
  steps:
    - name: a
      type: test_echo
      value: 1
      vlaue: 2
    - name: b
      type: claude
      prompt: "{{steps.zz.result}}"
"""


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(main.app, ["pipeline", "validate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_valid_files_exit_zero_with_ok_lines(runner: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    code, out, _ = invoke(runner, str(good), str(CORPUS / "examples/simple_test.yaml"))
    assert code == 0
    assert out.splitlines() == [
        f"{good}: OK (1 steps)",
        f"{CORPUS / 'examples/simple_test.yaml'}: OK (2 steps)",
    ]


def test_each_problem_is_one_line_with_file_line_col_key(runner: CliRunner, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    code, out, err = invoke(runner, str(bad), str(good))
    assert code == 2
    lines = out.splitlines()
    assert (
        f"{bad}:7:7: steps[0].vlaue: step 'a': unknown key 'vlaue' (did you mean 'value'?)" in lines
    )
    assert f"{good}: OK (1 steps)" in lines
    assert "1 of 2 file(s) invalid" in err
    assert "Traceback" not in out + err


def test_schema_and_reference_problems_in_separate_files(runner: CliRunner, tmp_path: Path) -> None:
    ref = tmp_path / "ref.yaml"
    ref.write_text(
        "name: r\nsteps:\n  - name: b\n    type: claude\n    prompt: '{{steps.zz.result}}'\n"
    )
    code, out, _ = invoke(runner, str(ref))
    assert code == 2
    assert out.splitlines() == [
        f"{ref}:5:13: steps[0].prompt: step 'b' refers to step 'zz', which does not exist"
    ]


def test_missing_file_and_corpus_verdicts(runner: CliRunner, tmp_path: Path) -> None:
    code, out, _ = invoke(
        runner,
        str(tmp_path / "nope.yaml"),
        str(CORPUS / "test/fixtures/pipelines/nested_with_error.yaml"),
    )
    assert code == 2
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path / 'nope.yaml'}: no such file"
    assert ":11:13: steps[1].type: step 'bad_step' has unknown type 'invalid_step_type'" in lines[1]


def test_needs_at_least_one_file(runner: CliRunner) -> None:
    code, _, _ = invoke(runner)
    assert code != 0
