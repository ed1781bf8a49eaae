"""Pipeline jobs: the executor inside the sandbox, LLM calls over the pipe."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.cli import main
from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.runtime import RunLimits
from evofarm.providers.mock import MockProvider, ScriptedProvider
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.pipeline import run_pipeline_sandboxed
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.wire.job import PipelineJob
from evofarm.sandbox.wire.outcome import Outcome

ASKING = """
workflow:
  name: asking
  steps:
    - name: up
      type: transform
      input: "{{inputs.name}}"
      operations:
        - op: upper
    - name: ask
      type: claude
      prompt:
        - type: static
          content: "Greet {{steps.up.result}}"
    - name: compute
      type: python
      input: "{{steps.ask.result}}"
      code: |
        def run(value):
            import os
            return {"reply": value, "uid": os.getuid()}
"""


def test_llm_calls_go_to_the_worker_s_provider() -> None:
    llm = ScriptedProvider(["hello ADA"])
    result = run_pipeline_sandboxed(load_pipeline_text(ASKING), {"name": "ada"}, llm=llm)
    assert result.outcome is Outcome.OK, result.message
    trace = result.value
    assert trace["status"] == "completed"
    assert trace["steps"]["compute"]["result"]["reply"] == "hello ADA"
    assert trace["steps"]["compute"]["result"]["uid"] != 0
    assert [r.prompt_text for r in llm.requests] == ["Greet ADA"]
    assert result.usage.llm_calls == 1
    assert result.usage.input_tokens == trace["usage"]["input_tokens"] > 0


def test_provider_errors_are_forwarded_to_the_step() -> None:
    llm = ScriptedProvider([ProviderConfigError("no such model")])
    result = run_pipeline_sandboxed(load_pipeline_text(ASKING), {"name": "ada"}, llm=llm)
    assert result.outcome is Outcome.CANDIDATE_ERROR
    assert "ProviderConfigError" not in result.message or "no such model" in result.message
    assert "no such model" in result.message
    # The executor lets provider errors propagate: no trace comes back.
    assert result.value is None


def test_without_a_provider_llm_steps_fail_clearly() -> None:
    result = run_pipeline_sandboxed(load_pipeline_text(ASKING), {"name": "ada"}, llm=None)
    assert result.outcome is Outcome.CANDIDATE_ERROR
    assert "no LLM provider in this sandbox" in result.message


def test_llm_call_budget_is_enforced_by_the_parent() -> None:
    loop = """
workflow:
  name: chatty
  steps:
    - name: many
      type: for_loop
      iterator: i
      data_source: "{{inputs.items}}"
      steps:
        - name: ask
          type: claude
          prompt:
            - type: static
              content: "call {{loop.i}}"
"""
    llm = ScriptedProvider(function=lambda request: "ok")
    result = run_pipeline_sandboxed(
        load_pipeline_text(loop),
        {"items": list(range(10))},
        llm=llm,
        limits=SandboxLimits(max_llm_calls=3),
    )
    assert result.outcome is Outcome.CANDIDATE_ERROR
    assert "max_llm_calls (3) reached" in result.message
    assert len(llm.requests) == 3


def test_provider_unavailable_is_an_infrastructure_error() -> None:
    llm = ScriptedProvider([ProviderUnavailable("529 overloaded")])
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        run_pipeline_sandboxed(load_pipeline_text(ASKING), {"name": "ada"}, llm=llm)


def test_a_slow_provider_does_not_stretch_the_wall_timeout() -> None:
    llm = MockProvider(latency_s=10)
    started = time.monotonic()
    result = run_pipeline_sandboxed(
        load_pipeline_text(ASKING),
        {"name": "ada"},
        llm=llm,
        limits=SandboxLimits(wall_timeout_s=1),
    )
    assert result.outcome is Outcome.TIMEOUT
    assert time.monotonic() - started < 5


def test_a_step_timeout_inside_the_sandbox_is_a_timeout() -> None:
    slow = """
workflow:
  name: slow
  steps:
    - name: nap
      type: python
      code: |
        def run(value):
            import time
            time.sleep(30)
"""
    result = run_pipeline_sandboxed(
        load_pipeline_text(slow), llm=None, run_limits=RunLimits(step_timeout_s=0.5)
    )
    assert result.outcome is Outcome.TIMEOUT
    assert result.value["limit"] == "step_timeout_s"


def test_invalid_pipeline_data_is_the_candidate_s_error() -> None:
    job = PipelineJob(pipeline={"name": "x", "steps": [{"name": "a", "type": "nope"}]})
    result = run_sandboxed(job)
    assert result.outcome is Outcome.CANDIDATE_ERROR
    assert "nope" in result.message


def test_nested_pipeline_files_are_read_from_base_dir(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # the sandbox's unprivileged uid must be able to read it
    (tmp_path / "inner.yaml").write_text(
        "name: inner\nsteps:\n  - {name: e, type: test_echo, value: inside}\n"
    )
    (tmp_path / "inner.yaml").chmod(0o644)
    outer = "name: outer\nsteps:\n  - {name: n, type: pipeline, pipeline_file: inner.yaml}\n"
    result = run_pipeline_sandboxed(load_pipeline_text(outer), llm=None, base_dir=tmp_path)
    assert result.outcome is Outcome.OK, result.message
    assert "inside" in json.dumps(result.value["steps"]["n"]["result"])


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    return CliRunner()


def test_cli_sandbox_json(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(ASKING)
    result = cli.invoke(
        main.app, ["pipeline", "run", str(path), "--sandbox", "--json", "-i", "name=ada"]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert {"outcome", "status", "steps", "usage"} <= set(shown)
    assert shown["outcome"] == "ok" and shown["status"] == "completed"
    assert shown["steps"]["up"]["result"] == "ADA"
    assert shown["usage"]["llm_calls"] == 1


def test_cli_sandbox_reports_a_contained_failure(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nsteps:\n  - name: net\n    type: python\n    code: |\n"
        "      def run(value):\n"
        "          import socket\n"
        "          socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
    )
    result = cli.invoke(main.app, ["pipeline", "run", str(path), "--sandbox", "--json"])
    assert result.exit_code == 1
    shown = json.loads(result.stdout)
    assert shown["outcome"] == "forbidden"
    assert shown["status"] == "failed"
