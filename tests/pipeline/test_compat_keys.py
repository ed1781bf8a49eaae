"""pipeline_ex keys of issue 14: compatibility-only keys warn once, the others work."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from evofarm.errors import PipelineValidationError, ProviderUnavailable
from evofarm.pipeline import schema, step_policy
from evofarm.pipeline.compat import compat_keys
from evofarm.pipeline.loader import check_pipeline_text, load_pipeline_text
from evofarm.pipeline.schema_errors import _models_in
from evofarm.pipeline.step_types import step_models
from evofarm.pipeline.steps import llm
from evofarm.pipeline.steps.nested import NESTED_WORKSPACES
from evofarm.providers.base import LLMRequest
from evofarm.providers.mock import ScriptedProvider

from .exec_helpers import make_runtime, run_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "pipeline-format.md"


# ----------------------------------------------------------------- warnings


def _all_models() -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()
    _models_in(schema.Pipeline, found)
    for model in step_models().values():
        _models_in(model, found)
    return found


def test_every_compat_only_key_is_a_field_and_is_documented() -> None:
    text = DOCS.read_text()
    section = text[text.index("## Accepted only for pipeline_ex compatibility") :]
    declared = {(m, k) for m in _all_models() for k in compat_keys(m)}
    assert {k for _, k in declared} >= {"options", "hooks", "input", "fallback_model"}
    for model, key in declared:
        assert key in model.model_fields, (model, key)
        assert f"`{key}`" in section, key


def test_one_warning_per_key_however_many_steps_set_it() -> None:
    steps = "\n".join(
        f"  - {{name: s{i}, type: test_echo, value: {i}, options: {{x: {i}}}}}" for i in range(5)
    )
    report = check_pipeline_text(f"name: w\nhooks: {{}}\nsteps:\n{steps}\n", "w.yaml")
    assert report.problems == []
    assert [w.key for w in report.warnings] == ["hooks", "options"]
    first = report.warnings[1]
    assert (first.location.line, first.location.key) == (4, "steps[0].options")


def test_misspelt_compat_key_is_still_an_error_with_a_suggestion() -> None:
    report = check_pipeline_text(
        "name: w\nsetting_source: [user]\nsteps: [{name: a, type: test_echo, value: 1}]\n"
    )
    assert len(report.problems) == 1
    assert "unknown key 'setting_source' (did you mean 'setting_sources'?)" in str(
        report.problems[0]
    )


def test_compat_keys_round_trip_through_the_canonical_form() -> None:
    text = (
        "name: w\ninput: {topic: string}\n"
        "steps: [{name: a, type: test_echo, value: 1, options: {k: 1}}]\n"
    )
    pipeline = load_pipeline_text(text)
    from evofarm.pipeline.loader import dump_pipeline  # noqa: PLC0415

    assert load_pipeline_text(dump_pipeline(pipeline)) == pipeline


# ----------------------------------------------------------------- test_echo


def test_test_echo_fail_fails_with_its_resolved_message(tmp_path: Path) -> None:
    trace = run_text(
        "name: f\nsteps:\n  - {name: a, type: test_echo, value: 7}\n"
        "  - {name: b, type: test_echo, fail: true, error_message: 'bad {{steps.a.result}}'}\n",
        tmp_path,
    )
    assert trace.status == "failed"
    assert trace.error_step == "b" and trace.error is not None and "bad 7" in trace.error
    assert trace.error_type == "StepFailed"


def test_test_echo_fail_false_echoes_and_default_message(tmp_path: Path) -> None:
    trace = run_text(
        "name: f\nsteps: [{name: a, type: test_echo, value: 1, fail: false}]", tmp_path
    )
    assert trace.output == 1
    trace = run_text("name: f\nsteps: [{name: a, type: test_echo, fail: true}]", tmp_path)
    assert trace.error is not None and "test_echo failed" in trace.error


# ----------------------------------------------------------------- break / continue

LOOP = """
name: loops
steps:
  - name: outer
    type: for_loop
    iterator: i
    data_source: [1, 2, 3, 4, 5]
    parallel: {parallel}
    steps:
      - {{name: skip, type: continue, condition: "loop.i == 2"}}
      - {{name: stop, type: break, condition: "loop.i == 4"}}
      - {{name: seen, type: test_echo, value: "{{{{loop.i}}}}"}}
"""


@pytest.mark.parametrize("parallel", ["false", "true"])
def test_break_and_continue_in_a_for_loop(parallel: str, tmp_path: Path) -> None:
    trace = run_text(LOOP.format(parallel=parallel), tmp_path)
    assert trace.status == "completed", trace.error
    result = trace.steps["outer"].result
    assert [it["item"] for it in result["iterations"]] == [1, 2, 3, 4]
    assert [it["results"]["seen"] for it in result["iterations"]] == [1, None, 3, None]
    assert result["success"] is True and result["completed_items"] == 4


def test_break_ends_only_the_innermost_loop(tmp_path: Path) -> None:
    trace = run_text(
        """
name: nested
steps:
  - name: rows
    type: for_loop
    iterator: r
    data_source: [1, 2]
    steps:
      - name: cols
        type: for_loop
        iterator: c
        data_source: [1, 2, 3]
        steps:
          - {name: cut, type: break, condition: "loop.c == 2"}
          - {name: cell, type: test_echo, value: "{{loop.c}}"}
""",
        tmp_path,
    )
    rows = trace.steps["rows"].result["iterations"]
    assert len(rows) == 2
    assert all(len(row["results"]["cols"]["iterations"]) == 2 for row in rows)


def test_break_in_a_while_loop(tmp_path: Path) -> None:
    trace = run_text(
        """
name: w
steps:
  - {name: init, type: set_variable, variable: n, value: 0}
  - name: loop
    type: while_loop
    condition: "true"
    max_iterations: 50
    steps:
      - {name: inc, type: set_variable, variable: n, value: "{{state.n + 1}}"}
      - {name: done, type: break, condition: "state.n >= 3"}
""",
        tmp_path,
    )
    assert trace.status == "completed", trace.error
    assert trace.steps["loop"].result == {"success": True, "iterations": 3, "broken": True}


def test_break_outside_a_loop_is_a_validation_error() -> None:
    with pytest.raises(PipelineValidationError, match="only valid inside a for_loop"):
        load_pipeline_text("name: b\nsteps: [{name: x, type: continue}]")
    with pytest.raises(PipelineValidationError, match="'brk'"):
        load_pipeline_text(
            "name: b\nsteps:\n  - name: n\n    type: pipeline\n    pipeline:\n"
            "      name: inner\n      steps: [{name: brk, type: break}]\n"
        )


def test_a_break_that_escapes_validation_is_an_ordinary_step_failure(tmp_path: Path) -> None:
    from evofarm.pipeline.executor import run_pipeline  # noqa: PLC0415
    from evofarm.pipeline.loader import pipeline_from_data  # noqa: PLC0415

    pipeline = pipeline_from_data(
        {"name": "b", "steps": [{"name": "x", "type": "break"}]}, validate=False
    )
    trace = run_pipeline(pipeline, {}, runtime=make_runtime(tmp_path))
    assert trace.status == "failed" and trace.error_step == "x"
    assert trace.error is not None and "outside a loop" in trace.error


# ----------------------------------------------------------------- gemini tools / timeout_ms

TOOLS = """
name: g
gemini_functions:
  get_wan_ip:
    description: WAN address
    parameters: {type: object, properties: {interface: {type: string}}, required: [interface]}
steps:
  - name: ip
    type: gemini
    tools: [get_wan_ip]
    timeout_ms: 1500
    prompt: which address?
"""


def test_gemini_tools_are_callable_functions(tmp_path: Path) -> None:
    provider = ScriptedProvider(['{"interface": "eth0"}'])
    trace = run_text(TOOLS, tmp_path, provider=provider)
    assert trace.status == "completed", trace.error
    assert trace.output["function_calls"] == [
        {"name": "get_wan_ip", "arguments": {"interface": "eth0"}}
    ]
    (request,) = provider.requests
    assert request.response_schema is not None


def test_gemini_tools_must_be_declared() -> None:
    with pytest.raises(PipelineValidationError, match="'nope'") as caught:
        load_pipeline_text(TOOLS.replace("tools: [get_wan_ip]", "tools: [nope]"))
    assert caught.value.location.key == "steps[0].tools[0]"


def test_gemini_timeout_ms_is_the_step_wall_limit(tmp_path: Path) -> None:
    step = load_pipeline_text(TOOLS).steps[0]
    assert step_policy.own_timeout_s(step, None) == 1.5

    def slow(request: LLMRequest) -> str:
        import time  # noqa: PLC0415

        time.sleep(1.0)
        return "late"

    trace = run_text(
        "name: s\nsteps: [{name: g, type: gemini, timeout_ms: 100, prompt: x}]",
        tmp_path,
        provider=ScriptedProvider(function=slow),
    )
    assert trace.status == "failed" and trace.limit == "step_timeout_s"


# ----------------------------------------------------------------- claude_robust base_delay_ms


def test_claude_robust_base_delay_ms_sets_the_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(llm.time, "sleep", waits.append)
    provider = ScriptedProvider([ProviderUnavailable("a"), ProviderUnavailable("b"), "ok"])
    trace = run_text(
        "name: r\nsteps:\n  - name: r\n    type: claude_robust\n"
        "    retry_config: {max_retries: 2, backoff_strategy: exponential, base_delay_ms: 40}\n"
        "    prompt: q\n",
        tmp_path,
        provider=provider,
    )
    assert trace.output == "ok"
    assert waits == pytest.approx([0.04, 0.08])


def test_linear_backoff_and_pipeline_ex_cached_response_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(llm.time, "sleep", waits.append)
    provider = ScriptedProvider(["first", ProviderUnavailable("a"), ProviderUnavailable("b")])
    trace = run_text(
        "name: r\nsteps:\n  - name: loop\n    type: for_loop\n    iterator: i\n"
        "    data_source: [1, 2]\n    steps:\n      - name: r\n        type: claude_robust\n"
        "        retry_config: {max_retries: 1, backoff_strategy: linear, base_delay_ms: 30,"
        " fallback_action: use_cached_response}\n        prompt: q\n",
        tmp_path,
        provider=provider,
    )
    assert trace.status == "completed", trace.error
    results = [it["results"]["r"] for it in trace.steps["loop"].result["iterations"]]
    assert results == ["first", "first"]  # the second iteration fell back to the first answer
    assert waits == pytest.approx([0.03])


# ----------------------------------------------------------------- nested pipeline config

NESTED = """
name: outer
steps:
  - name: inner work
    type: pipeline
    pipeline:
      name: inner
      steps:
        - {{name: write, type: test_echo, value: hello, output_to_file: out.txt}}
        - {{name: more, type: test_echo, value: 2}}
        - {{name: last, type: test_echo, value: 3{fail}}}
    config: {config}
"""


def _nested(config: dict[str, Any], *, fail: bool = False) -> str:
    return NESTED.format(config=json.dumps(config), fail=", fail: true" if fail else "")


def test_max_total_steps_caps_the_nested_pipeline(tmp_path: Path) -> None:
    trace = run_text(_nested({"max_total_steps": 2, "continue_on_error": True}), tmp_path)
    assert trace.status == "failed"  # a limit is never swallowed by continue_on_error
    assert trace.limit == "max_total_steps"
    assert trace.error is not None and "more than 2 step executions" in trace.error
    assert run_text(_nested({"max_total_steps": 3}), tmp_path).status == "completed"


def test_workspace_enabled_gives_a_private_workspace(tmp_path: Path) -> None:
    trace = run_text(_nested({"workspace_enabled": True}), tmp_path)
    assert trace.status == "completed", trace.error
    private = tmp_path / "workspace" / NESTED_WORKSPACES / "inner_work"
    assert (private / "out.txt").read_text() == "hello"
    assert not (tmp_path / "workspace" / "out.txt").exists()
    shared = run_text(_nested({}), tmp_path)
    assert shared.status == "completed" and (tmp_path / "workspace" / "out.txt").exists()


@pytest.mark.parametrize(("cleanup", "kept"), [(None, False), (True, False), (False, True)])
def test_cleanup_on_error_removes_the_failed_private_workspace(
    cleanup: bool | None, kept: bool, tmp_path: Path
) -> None:
    config: dict[str, Any] = {"workspace_enabled": True, "continue_on_error": True}
    if cleanup is not None:
        config["cleanup_on_error"] = cleanup
    trace = run_text(_nested(config, fail=True), tmp_path)
    assert trace.status == "completed"
    assert trace.steps["inner work"].result["success"] is False
    private = tmp_path / "workspace" / NESTED_WORKSPACES / "inner_work"
    assert private.exists() is kept


# ----------------------------------------------------------------- read roots


def test_read_roots_let_a_file_part_reach_outside_base_dir(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "style.md").write_text("Be terse.")
    (tmp_path / "pipelines").mkdir()
    text = (
        "name: f\nsteps:\n"
        "  - {name: a, type: claude, prompt: [{type: file, path: ../shared/style.md}]}\n"
    )
    base = tmp_path / "pipelines"
    refused = run_text(text, tmp_path, base_dir=base)
    assert refused.status == "failed" and refused.error is not None
    assert "outside the allowed directories" in refused.error
    allowed = run_text(text, tmp_path, base_dir=base, read_roots=(tmp_path / "shared",))
    assert allowed.status == "completed", allowed.error
    assert re.search("Be terse", str(allowed.output))


def test_a_key_valid_elsewhere_is_not_suggested_as_itself() -> None:
    report = check_pipeline_text(
        "name: n\nsteps:\n  - name: p\n    type: pipeline\n    pipeline_file: x.yaml\n"
        "    config: {base_delay_ms: 5}\n"
    )
    (problem,) = report.problems
    assert "unknown key 'base_delay_ms'" in str(problem)
    assert "did you mean 'base_delay_ms'" not in str(problem)
