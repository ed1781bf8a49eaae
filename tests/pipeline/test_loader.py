"""Loader errors: FILE:LINE:COL, key path and message; caps and hostile YAML."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from evofarm.errors import PipelineLoadError, PipelineValidationError, UserInputError
from evofarm.pipeline import loader
from evofarm.pipeline.loader import (
    check_pipeline_text,
    load_pipeline,
    load_pipeline_text,
    pipeline_from_data,
)
from evofarm.pipeline.schema import ClaudeStep, StaticPart, TestEchoStep
from evofarm.pipeline.yaml_source import DEFAULT_MAX_DEPTH


def problem_of(text: str) -> UserInputError:
    report = check_pipeline_text(text, "p.yaml")
    assert report.problems, "expected a problem"
    return report.problems[0]


MISSPELT = """\
workflow:
  name: demo
  steps:
    - name: first
      type: claude
      prompt:
        - type: static
          content: hi
      claude_options:
        max_turns: 1
    - name: second
      type: gemini
      promt:
        - type: static
          content: hello
"""


def test_misspelt_key_gets_its_line_column_and_key_path() -> None:
    report = check_pipeline_text(MISSPELT, "demo.yaml")
    messages = [str(p) for p in report.problems]
    assert (
        "demo.yaml:13:7: steps[1].promt: step 'second': unknown key 'promt' "
        "(did you mean 'prompt'?)"
    ) in messages
    # the required prompt is also reported, at the step, pointing at the typo
    assert (
        "demo.yaml:11:7: steps[1].prompt: step 'second': missing required key 'prompt' "
        "(is 'promt' a misspelling?)"
    ) in messages
    with pytest.raises(PipelineLoadError) as caught:
        load_pipeline_text(MISSPELT, "demo.yaml")
    assert caught.value.location.file == "demo.yaml"


def test_problems_are_in_file_order() -> None:
    report = check_pipeline_text(MISSPELT, "demo.yaml")
    lines = [p.location.line or 0 for p in report.problems]
    assert lines == sorted(lines)


def test_wrong_value_type_names_expected_and_got() -> None:
    problem = problem_of(
        "name: t\nsteps:\n  - name: a\n    type: claude\n    prompt: hi\n"
        "    claude_options:\n      max_turns: many\n"
    )
    assert problem.location.line == 7
    assert problem.location.key == "steps[0].claude_options.max_turns"
    assert "integer" in problem.message and "'many'" in problem.message


def test_bad_enum_value_lists_the_choices() -> None:
    problem = problem_of(
        "name: t\nsteps:\n  - name: a\n    type: claude_smart\n    preset: fast\n    prompt: x\n"
    )
    assert problem.location.key == "steps[0].preset"
    assert "'development'" in problem.message and "'fast'" in problem.message


def test_unknown_prompt_part_type() -> None:
    problem = problem_of(
        "name: t\nsteps:\n  - name: a\n    type: claude\n    prompt:\n      - type: inline\n"
        "        content: x\n"
    )
    assert problem.location.line == 6
    assert "unknown prompt part type 'inline'" in problem.message
    assert "previous_response" in problem.message


def test_step_without_type_lists_valid_types() -> None:
    problem = problem_of("name: t\nsteps:\n  - name: a\n    value: 1\n")
    assert isinstance(problem, PipelineValidationError)
    assert "step 'a' has no 'type'" in problem.message
    assert "test_echo" in problem.message


def test_unknown_step_type_inside_a_loop_is_found() -> None:
    problem = problem_of(
        "name: t\nsteps:\n  - name: loop\n    type: for_loop\n    iterator: x\n"
        "    data_source: [1, 2]\n    steps:\n      - name: inner\n        type: echo\n"
    )
    assert isinstance(problem, PipelineValidationError)
    assert problem.location.key == "steps[0].steps[0].type"
    assert problem.location.line == 9
    assert "step 'inner' has unknown type 'echo'" in problem.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("- a\n- b\n", "must be a mapping"),
        ("workflow: [1]\n", "'workflow' must be a mapping"),
        (
            "workflow:\n  name: t\n  steps: [{name: a, type: test_echo, value: 1}]\nextra: 1\n",
            "unknown top-level key 'extra'",
        ),
        ("name: [a\n", "YAML syntax error"),
        ("name: a\nname: b\nsteps: []\n", "duplicate key 'name'"),
        ("name: t\n1: x\nsteps: []\n", "must be a string"),
        ("name: !!python/object:os.system x\nsteps: []\n", "bad YAML value"),
        ("name: !!binary aGVsbG8=\nsteps: []\n", "unsupported YAML value"),
        ("name: t\nsteps: !!set {a: null}\n", "unsupported YAML tag"),
        ("name: t\nversion: .inf\nsteps: []\n", "finite"),
        ("name: t\nsteps: []\n", "at least 1"),
        ("name: t\nx: 1\n---\nname: u\n", "YAML syntax error"),
    ],
)
def test_bad_documents_give_one_clear_error(text: str, words: str) -> None:
    problem = problem_of(text)
    assert isinstance(problem, PipelineLoadError)
    assert words in str(problem)
    assert problem.location.file == "p.yaml"


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    problem = problem_of("\n".join(lines) + "\n")
    assert "aliases expanding too far" in problem.message


def test_self_referencing_alias_is_refused() -> None:
    problem = problem_of("name: t\nsteps: &s [*s]\n")
    assert "contains it" in problem.message


@pytest.mark.parametrize(
    "nested",
    [
        "[" * 5000 + "]" * 5000,  # deep enough for PyYAML's own limit to refuse it first
        "{a: " * 5000 + "1" + "}" * 5000,
        "[" * 200 + "]" * 200,  # under PyYAML's limit: evofarm's own depth cap refuses it
    ],
    ids=["flow-lists", "flow-maps", "over-evofarm-cap"],
)
def test_deep_nesting_is_one_located_error_whichever_layer_refuses(nested: str) -> None:
    text = "name: t\nsteps: " + nested + "\n"
    started = time.perf_counter()
    report = check_pipeline_text(text, "p.yaml")
    elapsed = time.perf_counter() - started
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert isinstance(problem, PipelineLoadError)
    assert problem.location.file == "p.yaml"
    assert problem.location.line == 2
    assert "\n" not in str(problem) and "Traceback" not in str(problem)
    assert elapsed < 5.0  # bounded: refused from the stream, not after building 5000 levels
    with pytest.raises(PipelineLoadError):  # and never a RecursionError
        load_pipeline_text(text, "p.yaml")


def test_evofarm_depth_cap_names_the_limit() -> None:
    problem = problem_of("name: t\nsteps: " + "[" * 65 + "]" * 65 + "\n")
    assert problem.message == f"nesting deeper than {DEFAULT_MAX_DEPTH} levels"


def test_merge_keys_and_aliases_are_expanded() -> None:
    pipeline = load_pipeline_text(
        """
name: t
steps:
  - &base
    name: a
    type: test_echo
    value: {x: 1}
  - <<: *base
    name: b
"""
    )
    assert [s.name for s in pipeline.steps] == ["a", "b"]
    assert isinstance(pipeline.steps[1], TestEchoStep)
    assert pipeline.steps[1].value == {"x": 1}


def test_short_form_prompt_becomes_a_static_part() -> None:
    pipeline = load_pipeline_text(
        "name: t\nsteps:\n  - name: a\n    type: claude\n    prompt: hi\n"
    )
    step = pipeline.steps[0]
    assert isinstance(step, ClaudeStep)
    assert step.prompt == [StaticPart(type="static", content="hi")]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineLoadError, match="no such file"):
        load_pipeline(tmp_path / "missing.yaml")
    with pytest.raises(PipelineLoadError, match="directory"):
        load_pipeline(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(PipelineLoadError, match="UTF-8"):
        load_pipeline(bad)


def test_oversized_file_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "MAX_PIPELINE_BYTES", 100)
    big = tmp_path / "big.yaml"
    big.write_text("name: t\n" + "# padding\n" * 50)
    with pytest.raises(PipelineLoadError, match="100-byte limit") as caught:
        load_pipeline(big)
    assert caught.value.location.file == str(big)


def test_default_size_cap_applies_to_text() -> None:
    problem = problem_of("name: t\n" + "#" * (loader.MAX_PIPELINE_BYTES + 1))
    assert "limit" in problem.message


def test_pipeline_from_data_reports_key_paths_without_lines() -> None:
    with pytest.raises(PipelineLoadError) as caught:
        pipeline_from_data(
            {"workflow": {"name": "t", "steps": [{"name": "a", "type": "test_echo"}]}},
            "genome:abc",
        )
    location = caught.value.location
    assert (location.file, location.line, location.key) == ("genome:abc", None, "steps[0].value")


def test_pipeline_from_data_accepts_either_form() -> None:
    step = {"name": "a", "type": "test_echo", "value": 1}
    assert pipeline_from_data({"name": "t", "steps": [step]}) == pipeline_from_data(
        {"workflow": {"name": "t", "steps": [step]}}
    )


def test_validation_can_be_skipped() -> None:
    text = "name: t\nsteps:\n  - name: a\n    type: claude\n    prompt: '{{steps.zz.result}}'\n"
    with pytest.raises(PipelineValidationError):
        load_pipeline_text(text)
    assert load_pipeline_text(text, validate=False).name == "t"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: t\nsteps:\n  - {name: a, type: claude_smrt, prompt: x}\n",
            "(did you mean 'claude_smart'?)",
        ),
        ("name: t\nstep: []\n", "unknown key 'step' (did you mean 'steps'?)"),
        (
            "name: t\nsteps:\n  - {name: a, type: claude, prompt: [{type: statc, content: x}]}\n",
            "(did you mean 'static'?)",
        ),
        (
            "name: t\nsteps:\n  - {name: a, type: transform, input: x, operations: [{op: lowr}]}\n",
            "unknown transform operation 'lowr'",
        ),
    ],
)
def test_close_misspellings_get_a_suggestion(text: str, expected: str) -> None:
    messages = [str(p) for p in check_pipeline_text(text).problems]
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (float("nan"), "finite"),
        ((1, 2), "tuple"),
        ({1: "a"}, "not a string"),
        ({"a": {"b": object()}}, "object"),
    ],
)
def test_pipeline_from_data_requires_json_data(value: Any, words: str) -> None:
    data = {"name": "t", "steps": [{"name": "a", "type": "test_echo", "value": value}]}
    with pytest.raises(PipelineLoadError, match=words) as caught:
        pipeline_from_data(data)
    assert (caught.value.location.key or "").startswith("steps[0].value")


def test_pipeline_from_data_refuses_absurd_nesting() -> None:
    value: Any = 1
    for _ in range(200):
        value = [value]
    data = {"name": "t", "steps": [{"name": "a", "type": "test_echo", "value": value}]}
    with pytest.raises(PipelineLoadError, match="nested deeper"):
        pipeline_from_data(data)
