"""LLM steps: requests sent, results, retries and fallbacks, sessions, structured output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evofarm.errors import ProviderConfigError, ProviderUnavailable
from evofarm.pipeline import step_policy
from evofarm.pipeline.steps import llm
from evofarm.providers.base import LLMRequest
from evofarm.providers.mock import ScriptedProvider

from .exec_helpers import run_text


def echo(request: LLMRequest) -> str:
    return f"echo: {request.prompt_text}"


def test_claude_options_presets_and_models_reach_the_request(tmp_path: Path) -> None:
    provider = ScriptedProvider(function=echo)
    trace = run_text(
        """
workflow:
  name: opts
  defaults:
    claude_options: {system_prompt: "Be brief."}
  steps:
    - name: smart
      type: claude_smart
      preset: analysis
      model: opus
      claude_options: {append_system_prompt: "Topic {{inputs.t}}."}
      prompt: "Look at {{inputs.t}}"
    - name: plain
      type: claude
      prompt: plain
    - name: templated
      type: gemini
      model: "{{inputs.m}}"
      prompt: g
""",
        tmp_path,
        {"t": "bees", "m": "gemini-2.5-pro"},
        provider=provider,
    )
    assert trace.status == "completed"
    smart, plain, templated = provider.requests
    assert templated.model == "gemini-2.5-pro"
    assert smart.prompt_text == "Look at bees"
    assert smart.model == "claude-opus-4-1"  # alias resolved through the slot
    assert smart.max_tokens == llm.PRESETS["analysis"]["max_tokens"]
    assert smart.temperature == llm.PRESETS["analysis"]["temperature"]
    assert smart.system is not None
    assert smart.system.startswith("Be brief.\nTopic bees.")
    assert plain.system == "Be brief." and plain.model == "claude-sonnet-4-6"
    assert trace.steps["smart"].result == "echo: Look at bees"


ROBUST = """
name: robust
steps:
  - name: r
    type: claude_robust
    retry_config:
      max_retries: 2
      backoff_strategy: linear
      fallback_action: {fallback}
    prompt: "question"
"""


@pytest.fixture(autouse=True)
def _no_backoff_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(step_policy, "BACKOFF_BASE_S", 0.0)


def test_claude_robust_retries_then_succeeds(tmp_path: Path) -> None:
    provider = ScriptedProvider([ProviderUnavailable("500"), ProviderUnavailable("529"), "finally"])
    trace = run_text(ROBUST.format(fallback="return_error"), tmp_path, provider=provider)
    step = trace.steps["r"]
    assert trace.status == "completed" and step.result == "finally"
    assert step.retries == 2 and len(step.errors) == 2 and step.llm_calls == 1


def test_claude_robust_fallback_after_exhausting_retries(tmp_path: Path) -> None:
    provider = ScriptedProvider([ProviderUnavailable("down")] * 3)
    trace = run_text(ROBUST.format(fallback="graceful_degradation"), tmp_path, provider=provider)
    assert trace.status == "completed" and trace.output == llm.FALLBACK_NOTICE
    assert trace.steps["r"].retries == 2 and len(provider.requests) == 3


def test_claude_robust_simplified_prompt_fallback(tmp_path: Path) -> None:
    provider = ScriptedProvider([ProviderUnavailable("down")] * 3 + ["simple answer"])
    trace = run_text(ROBUST.format(fallback="simplified_prompt"), tmp_path, provider=provider)
    assert trace.output == "simple answer" and len(provider.requests) == 4


def test_claude_robust_without_fallback_fails(tmp_path: Path) -> None:
    provider = ScriptedProvider([ProviderUnavailable("down")] * 3)
    trace = run_text(ROBUST.format(fallback="return_error"), tmp_path, provider=provider)
    assert trace.status == "failed" and "after retries" in (trace.error or "")


def test_claude_robust_does_not_retry_configuration_errors(tmp_path: Path) -> None:
    provider = ScriptedProvider([ProviderConfigError("no key")])
    with pytest.raises(ProviderConfigError):
        run_text(ROBUST.format(fallback="graceful_degradation"), tmp_path, provider=provider)


def test_claude_session_keeps_the_conversation(tmp_path: Path) -> None:
    provider = ScriptedProvider(function=lambda r: f"answer {len(r.messages)}")
    trace = run_text(
        """
name: s
steps:
  - name: first
    type: claude_session
    session_config: {session_name: tutor}
    prompt: "What is 5 + 3?"
  - name: second
    type: claude_session
    session_config: {session_name: tutor, max_turns: 3}
    prompt: "And doubled?"
    conversation:
      - prompt: "And halved?"
  - name: recap
    type: claude
    prompt:
      - type: session_context
        session_id: tutor
        include_last_n: 2
""",
        tmp_path,
        provider=provider,
    )
    assert trace.status == "completed"
    sizes = [len(r.messages) for r in provider.requests]
    assert sizes == [1, 3, 5, 1]
    assert [m.content for m in provider.requests[2].messages[:4]] == [
        "What is 5 + 3?",
        "answer 1",
        "And doubled?",
        "answer 3",
    ]
    assert trace.steps["second"].result == "answer 5"
    assert provider.requests[3].prompt_text == "user: And halved?\nassistant: answer 5"


def test_claude_session_max_turns(tmp_path: Path) -> None:
    trace = run_text(
        """
name: s
steps:
  - name: chat
    type: claude_session
    session_config: {session_name: x, max_turns: 1}
    prompt: one
    conversation:
      - prompt: two
""",
        tmp_path,
    )
    assert trace.status == "failed" and "max_turns" in (trace.error or "")


EXTRACT = """
name: x
steps:
  - name: ex
    type: claude_extract
    schema:
      type: object
      properties:
        title: {type: string}
        score: {type: integer, minimum: 0}
      required: [title, score]
    prompt: "extract"
"""


def test_claude_extract_json_is_validated_against_the_schema(tmp_path: Path) -> None:
    ok = run_text(EXTRACT, tmp_path, provider=ScriptedProvider(['{"title": "t", "score": 3}']))
    assert ok.output == {"title": "t", "score": 3}
    fenced = ScriptedProvider(['```json\n{"title": "t", "score": 1}\n```'])
    assert run_text(EXTRACT, tmp_path, provider=fenced).output == {"title": "t", "score": 1}
    bad = run_text(EXTRACT, tmp_path, provider=ScriptedProvider(['{"title": "t", "score": -1}']))
    assert bad.status == "failed" and "score" in (bad.error or "")
    not_json = run_text(EXTRACT, tmp_path, provider=ScriptedProvider(["sorry"]))
    assert not_json.status == "failed" and "JSON" in (not_json.error or "")


def test_claude_extract_with_mock_and_shorthand_schema(tmp_path: Path) -> None:
    trace = run_text(
        """
name: x
steps:
  - name: dna
    type: claude_extract
    schema:
      genome:
        name: string
        steps:
          - step_type: string
        size: integer
    prompt: "make dna"
""",
        tmp_path,
    )
    assert trace.status == "completed"
    genome = trace.output["genome"]
    assert isinstance(genome["name"], str) and isinstance(genome["size"], int)


def test_claude_extract_post_processing(tmp_path: Path) -> None:
    answer = (
        "Intro.\n- first point\n2. second point\nYou should test more.\n"
        "See https://example.org/doc.\n```python\nprint(1)\n```\n"
    )
    trace = run_text(
        """
name: x
steps:
  - name: ex
    type: claude_extract
    extraction_config:
      format: text
      post_processing: [extract_code_blocks, extract_links, extract_key_points,
                        extract_recommendations, generate_summary]
      max_summary_length: 20
      include_metadata: true
    prompt: "p"
""",
        tmp_path,
        provider=ScriptedProvider([answer]),
    )
    result = trace.output
    assert result["content"] == answer.strip()
    assert result["extract_code_blocks"] == ["print(1)"]
    assert result["extract_links"] == ["https://example.org/doc."]
    assert result["extract_key_points"] == ["first point", "second point"]
    assert result["extract_recommendations"] == ["You should test more."]
    assert len(result["generate_summary"]) <= 20
    assert result["metadata"]["format"] == "text"


def test_claude_extract_unknown_post_processing_fails(tmp_path: Path) -> None:
    trace = run_text(
        "name: x\nsteps:\n  - name: ex\n    type: claude_extract\n"
        "    extraction_config: {post_processing: [telepathy]}\n    prompt: p\n",
        tmp_path,
    )
    assert trace.status == "failed" and "telepathy" in (trace.error or "")


def test_gemini_functions_and_instructor(tmp_path: Path) -> None:
    trace = run_text(
        """
workflow:
  name: g
  gemini_functions:
    score_it:
      description: "score"
      parameters:
        type: object
        properties:
          quality: {type: integer, minimum: 1, maximum: 10}
        required: [quality]
  steps:
    - name: call
      type: gemini
      functions: [score_it]
      prompt: "score this"
    - name: structured
      type: gemini_instructor
      schema:
        type: object
        properties: {ok: {type: boolean}}
        required: [ok]
      prompt: "structured"
""",
        tmp_path,
    )
    assert trace.status == "completed"
    call = trace.steps["call"].result
    assert call["function_calls"][0]["name"] == "score_it"
    assert 1 <= call["function_calls"][0]["arguments"]["quality"] <= 10
    assert isinstance(trace.steps["structured"].result["ok"], bool)


def test_gemini_instructor_rejects_answers_off_schema(tmp_path: Path) -> None:
    trace = run_text(
        """
name: g
steps:
  - name: structured
    type: gemini_instructor
    schema: {type: object, properties: {ok: {type: boolean}}, required: [ok]}
    prompt: "structured"
""",
        tmp_path,
        provider=ScriptedProvider([json.dumps({"ok": "yes"})]),
    )
    assert trace.status == "failed" and "schema" in (trace.error or "")


def test_batch_and_parallel(tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_text("document body")
    provider = ScriptedProvider(function=echo)
    trace = run_text(
        """
name: b
steps:
  - name: batch
    type: claude_batch
    batch_config: {max_parallel: 2, consolidate_results: true}
    prompt: "Review:"
    tasks:
      - task_id: a
        prompt: "task a"
      - task_id: b
        file: doc.txt
      - task_id: c
        file: missing.txt
  - name: par
    type: parallel_claude
    parallel_tasks:
      - id: docs
        prompt: "write docs"
        output_to_file: docs.md
      - id: tests
        condition: "batch.failed > 5"
        prompt: "write tests"
""",
        tmp_path,
        provider=provider,
    )
    assert trace.status == "completed", trace.error
    batch = trace.steps["batch"].result
    by_id = {r["task_id"]: r for r in batch["results"]}
    assert by_id["a"]["text"] == "echo: task a"
    assert by_id["b"]["text"] == "echo: Review:\ndocument body"
    assert not by_id["c"]["success"] and "missing.txt" in by_id["c"]["error"]
    assert batch["successful"] == 2 and batch["failed"] == 1
    assert batch["consolidated"] == "echo: task a\n\necho: Review:\ndocument body"
    assert trace.steps["batch"].llm_calls == 2 and trace.steps["batch"].errors
    assert trace.steps["par"].result == {"docs": "echo: write docs", "tests": None}
    assert (tmp_path / "workspace" / "docs.md").read_text() == "echo: write docs"
