"""The executor: traces, skipping, failures, usage, output files, registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evofarm.errors import PipelineValidationError, ProviderUnavailable, StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.runtime import Runtime
from evofarm.pipeline.schema import STEP_TYPES
from evofarm.pipeline.step_types import register_step_type, step_type
from evofarm.pipeline.steps.registry import (
    get_step_impl,
    register_step,
    registered_types,
    unregister_step,
)
from evofarm.providers.mock import MockProvider, ScriptedProvider
from evofarm.providers.registry import ProviderSet
from evofarm.registry import ExtensionError

from .exec_helpers import make_runtime, run_text

LLM_PIPELINE = """
workflow:
  name: llm_chain
  steps:
    - name: ask
      type: claude
      prompt:
        - type: static
          content: "Summarise {{inputs.topic}}"
    - name: check
      type: gemini
      condition: "ask.success"
      prompt:
        - type: static
          content: "Review:"
        - type: previous_response
          step: ask
    - name: never
      type: claude
      condition: "ask.result contains 'no such text'"
      prompt: "unused"
    - name: echo
      type: test_echo
      value: "{{steps.check.result}}"
"""


def test_trace_of_a_mock_run(tmp_path: Path) -> None:
    trace = run_text(LLM_PIPELINE, tmp_path, {"topic": "bees"})
    assert trace.status == "completed" and trace.error is None
    assert list(trace.steps) == ["ask", "check", "never", "echo"]
    ask = trace.steps["ask"]
    assert ask.result == "Mock response for: Summarise bees..."
    assert ask.status == "completed" and ask.llm_calls == 1
    assert ask.input_tokens > 0 and ask.output_tokens > 0
    check = trace.steps["check"]
    assert check.result.startswith("Mock Gemini response for: Review:\nMock response")
    never = trace.steps["never"]
    assert never.skipped and never.status == "skipped" and never.result is None
    assert never.skip_reason == "Condition not met: ask.result contains 'no such text'"
    assert trace.steps["echo"].result == check.result
    assert trace.output == check.result
    assert trace.usage.llm_calls == 2
    assert trace.usage.input_tokens == ask.input_tokens + check.input_tokens
    assert trace.usage.cost_usd == pytest.approx(ask.cost_usd + check.cost_usd)
    assert trace.usage.duration_ms >= max(s.duration_ms for s in trace.steps.values())
    json.dumps(trace.model_dump(mode="json"))  # JSON-serialisable


def test_failed_step_fails_the_run_and_stops_it(tmp_path: Path) -> None:
    trace = run_text(
        """
name: failing
steps:
  - name: first
    type: test_echo
    value: 1
  - name: broken
    type: claude
    prompt:
      - type: file
        path: missing.txt
  - name: after
    type: test_echo
    value: 2
""",
        tmp_path,
    )
    assert trace.status == "failed"
    assert trace.error_step == "broken" and trace.error_type == "StepFailed"
    assert "missing.txt" in (trace.error or "") and "broken" in (trace.error or "")
    assert trace.steps["broken"].status == "failed"
    assert trace.steps["broken"].errors
    assert "after" not in trace.steps
    assert trace.output == 1


def test_strict_mode_fails_on_unresolved_reference(tmp_path: Path) -> None:
    text = "name: s\nsteps:\n  - name: e\n    type: test_echo\n    value: 'x {{inputs.nope}}'\n"
    assert run_text(text, tmp_path).steps["e"].result == "x {{inputs.nope}}"
    trace = run_text(text, tmp_path, strict=True)
    assert trace.status == "failed" and trace.error_type == "TemplateError"
    assert "'inputs.nope'" in (trace.error or "")


def test_declared_inputs_are_defaults(tmp_path: Path) -> None:
    text = """
name: d
inputs:
  who: world
  n: 2
steps:
  - name: e
    type: test_echo
    value: "{{who}} x{{n}}"
"""
    assert run_text(text, tmp_path).output == "world x2"
    assert run_text(text, tmp_path, {"who": "you"}).output == "you x2"


def test_output_to_file_is_written_in_the_workspace(tmp_path: Path) -> None:
    trace = run_text(
        """
name: out
steps:
  - name: data
    type: test_echo
    value: {a: 1}
    output_to_file: "reports/{{inputs.kind}}.json"
  - name: text
    type: test_echo
    value: hello
    output_to_file: hello.txt
""",
        tmp_path,
        {"kind": "summary"},
    )
    assert trace.status == "completed"
    workspace = tmp_path / "workspace"
    assert json.loads((workspace / "reports" / "summary.json").read_text()) == {"a": 1}
    assert (workspace / "hello.txt").read_text() == "hello"


@pytest.mark.parametrize("target", ["../escape.txt", "/tmp/evofarm-escape.txt", "a/../../x"])
def test_output_to_file_cannot_escape_the_workspace(tmp_path: Path, target: str) -> None:
    trace = run_text(
        f"name: out\nsteps:\n  - name: e\n    type: test_echo\n    value: x\n"
        f"    output_to_file: {json.dumps(target)}\n",
        tmp_path,
    )
    assert trace.status == "failed" and "outside the allowed directories" in (trace.error or "")
    assert not (tmp_path / "escape.txt").exists()


def test_condition_error_fails_the_step(tmp_path: Path) -> None:
    text = (
        "name: c\nsteps:\n  - name: e\n    type: test_echo\n    value: 1\n"
        "    condition: {xor: []}\n"
    )
    with pytest.raises(PipelineValidationError, match="malformed condition"):
        load_pipeline_text(text)  # caught at load time ...
    # ... and at run time for pipelines built without validation (operators).
    pipeline = load_pipeline_text(text, validate=False)
    trace = run_pipeline(pipeline, runtime=make_runtime(tmp_path))
    assert trace.status == "failed" and trace.error_type == "ConditionError"
    assert trace.error_step == "e"


def test_provider_infrastructure_errors_propagate(tmp_path: Path) -> None:
    provider = ScriptedProvider([ProviderUnavailable("529 overloaded")])
    with pytest.raises(ProviderUnavailable):
        run_text(
            "name: p\nsteps:\n  - name: a\n    type: claude\n    prompt: hi\n",
            tmp_path,
            provider=provider,
        )


def test_pipeline_provider_mapping_rebinds_a_slot(tmp_path: Path) -> None:
    scripted = MockProvider(name="mock", responses={"hi": "scripted answer"})
    trace = run_text(
        """
name: p
providers:
  claude: {provider: mock, model: haiku}
steps:
  - name: a
    type: claude
    prompt: hi
""",
        tmp_path,
        provider=scripted,
    )
    assert trace.output == "scripted answer"


def test_every_schema_type_has_an_implementation() -> None:
    assert set(STEP_TYPES) == registered_types()
    assert "pipeline_executor" in STEP_TYPES  # registered with no start-up call


def test_register_step_swaps_an_implementation(tmp_path: Path) -> None:
    calls: list[Any] = []

    def impl(step: Any, ctx: StepContext) -> Any:
        calls.append(ctx.resolve(step.suite))
        return {"fitness": 0.5}

    original = step_type("pipeline_executor")
    register_step("pipeline_executor", impl, replace=True)
    try:
        with pytest.raises(ExtensionError, match="already"):
            register_step("pipeline_executor", lambda s, c: None)
        with pytest.raises(ExtensionError, match="no model"):
            register_step("no_such_type", impl)
        trace = run_text(
            """
name: meta
steps:
  - name: produce
    type: test_echo
    value: "name: x"
  - name: run_it
    type: pipeline_executor
    pipeline_source: "{{steps.produce.result}}"
    suite: "suite-{{inputs.n}}"
""",
            tmp_path,
            {"n": 1},
        )
    finally:
        register_step_type(original, replace=True)
    assert trace.output == {"fitness": 0.5} and calls == ["suite-1"]


def test_a_type_unregistered_after_loading_fails_clearly(tmp_path: Path) -> None:
    text = (
        "name: m\nsteps:\n  - name: r\n    type: pipeline_executor\n"
        "    pipeline_source: '{{inputs.p}}'\n    suite: s\n"
    )
    pipeline = load_pipeline_text(text)
    original = step_type("pipeline_executor")
    unregister_step("pipeline_executor")
    try:
        runtime = Runtime(providers=ProviderSet.for_provider("mock"), workspace=tmp_path / "ws")
        trace = run_pipeline(pipeline, {}, runtime=runtime)
    finally:
        register_step_type(original)
    assert trace.status == "failed" and "not available" in (trace.error or "")
    assert trace.error_type == "StepFailed" and trace.error_step == "r"


def test_get_step_impl_raises_step_failed_for_unknown() -> None:
    class Fake:
        type = "no_such_type"
        name = "x"

    with pytest.raises(StepFailed):
        get_step_impl(Fake())  # type: ignore[arg-type]


def test_continue_on_error_records_the_failure_and_goes_on(tmp_path: Path) -> None:
    trace = run_text(
        """
workflow:
  name: tolerant
  defaults: {continue_on_error: true}
  steps:
    - name: broken
      type: claude
      prompt: [{type: file, path: nope.txt}]
    - name: after
      type: test_echo
      value: "{{broken.success}}"
""",
        tmp_path,
    )
    assert trace.status == "completed"
    broken = trace.steps["broken"]
    assert broken.status == "failed" and "nope.txt" in broken.errors[0]
    assert trace.output is False


def test_output_schema_is_checked(tmp_path: Path) -> None:
    text = """
name: schema
steps:
  - name: e
    type: test_echo
    value: {value}
    output_schema: {{type: object, required: [n], properties: {{n: {{type: integer}}}}}}
"""
    assert run_text(text.format(value="{n: 3}"), tmp_path).status == "completed"
    assert run_text(text.format(value="'{\"n\": 3}'"), tmp_path).status == "completed"
    bad = run_text(text.format(value="{n: x}"), tmp_path)
    assert bad.status == "failed" and "schema" in (bad.error or "")


def test_pipeline_resource_limits_tighten_the_runtime(tmp_path: Path) -> None:
    trace = run_text(
        """
workflow:
  name: limited
  resource_limits: {max_total_steps: 1}
  steps:
    - {name: a, type: test_echo, value: 1}
    - {name: b, type: test_echo, value: 2}
""",
        tmp_path,
    )
    assert trace.status == "failed" and trace.limit == "max_steps" and trace.error_step == "b"
