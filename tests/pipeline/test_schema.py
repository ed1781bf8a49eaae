"""The pipeline data model: step classes, prompt parts, option bags, rules per type."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from evofarm.errors import UserInputError
from evofarm.pipeline.loader import pipeline_from_data
from evofarm.pipeline.schema import (
    LLM_STEP_TYPES,
    STEP_TYPES,
    ClaudeBatchStep,
    ClaudeStep,
    ForLoopStep,
    GeminiStep,
    LLMStep,
    Pipeline,
    PipelineStep,
    PreviousResponsePart,
    PythonStep,
    SetVariableStep,
    StaticPart,
    StepBase,
    TransformStep,
)
from evofarm.pipeline.transform_ops import LowerOp

BRIEF_LLM_TYPES = {
    "claude",
    "claude_smart",
    "claude_session",
    "claude_extract",
    "claude_batch",
    "claude_robust",
    "parallel_claude",
    "gemini",
    "gemini_instructor",
}
BRIEF_TYPES = BRIEF_LLM_TYPES | {
    "set_variable",
    "for_loop",
    "while_loop",
    "data_transform",
    "file_ops",
    "pipeline",
    "test_echo",
    "pipeline_executor",
    "conditional_deploy",
    "transform",
    "python",
    "break",
    "continue",
}


def pipeline(*steps: dict[str, Any], **top: Any) -> Pipeline:
    return Pipeline.model_validate({"name": "t", **top, "steps": list(steps)})


def test_every_step_type_has_its_class() -> None:
    assert set(STEP_TYPES) == BRIEF_TYPES
    for name, cls in STEP_TYPES.items():
        assert issubclass(cls, StepBase)
        assert cls.model_fields["type"].annotation.__args__ == (name,)  # type: ignore[union-attr]
        assert list(cls.model_fields)[:2] == ["name", "type"]
    assert BRIEF_LLM_TYPES == LLM_STEP_TYPES


def test_provider_slots() -> None:
    p = pipeline(
        {"name": "c", "type": "claude", "prompt": "x", "model": "opus"},
        {"name": "g", "type": "gemini", "prompt": "x"},
    )
    claude, gemini = p.steps
    assert isinstance(claude, LLMStep) and claude.provider_slot == "claude"
    assert claude.model == "opus"
    assert isinstance(gemini, GeminiStep) and gemini.provider_slot == "gemini"


def test_prompt_string_and_parts() -> None:
    step = pipeline(
        {
            "name": "c",
            "type": "claude",
            "prompt": [
                {"type": "static", "content": "a"},
                {"type": "previous_response", "step": "x", "extract": "a.b", "strict": True},
            ],
        },
        {"name": "x", "type": "claude", "prompt": "short"},
    ).steps
    first, second = step
    assert isinstance(first, ClaudeStep) and isinstance(second, ClaudeStep)
    assert isinstance(first.prompt[1], PreviousResponsePart)
    assert first.prompt[1].extract == "a.b"
    assert second.prompt == [StaticPart(type="static", content="short")]


@pytest.mark.parametrize(
    ("step", "fragment"),
    [
        ({"name": "a", "type": "claude"}, "prompt"),
        ({"name": "a", "type": "claude_session", "prompt": "x"}, "session_config"),
        ({"name": "a", "type": "claude_batch"}, "needs 'prompt' or 'tasks'"),
        ({"name": "a", "type": "claude_batch", "tasks": [{"task_id": "t"}]}, "'prompt' or 'file'"),
        ({"name": "a", "type": "parallel_claude", "parallel_tasks": []}, "at least 1"),
        (
            {
                "name": "a",
                "type": "claude_robust",
                "prompt": "x",
                "retry_config": {"backoff_strategy": "random"},
            },
            "linear",
        ),
        (
            {
                "name": "a",
                "type": "claude_robust",
                "prompt": "x",
                "retry_config": {"max_retries": 0},
            },
            "greater than 0",
        ),
        (
            {
                "name": "a",
                "type": "claude_extract",
                "prompt": "x",
                "extraction_config": {"format": "xml"},
            },
            "markdown",
        ),
        ({"name": "a", "type": "set_variable"}, "either 'variable'"),
        ({"name": "a", "type": "set_variable", "variable": "x", "variables": {}}, "either"),
        (
            {"name": "a", "type": "for_loop", "iterator": "i", "data_source": [], "steps": []},
            "at least 1",
        ),
        (
            {
                "name": "a",
                "type": "while_loop",
                "steps": [{"name": "b", "type": "test_echo", "value": 1}],
            },
            "condition",
        ),
        (
            {
                "name": "a",
                "type": "data_transform",
                "input_source": "x",
                "operations": [{"operation": "filter"}],
            },
            "needs 'condition'",
        ),
        (
            {
                "name": "a",
                "type": "data_transform",
                "input_source": "x",
                "operations": [{"operation": "map", "field": "f"}],
            },
            "'mapping' or 'expression'",
        ),
        ({"name": "a", "type": "file_ops", "operation": "shred"}, "copy"),
        ({"name": "a", "type": "pipeline"}, "exactly one of"),
        (
            {"name": "a", "type": "pipeline", "pipeline_file": "x", "pipeline_ref": "y"},
            "exactly one of",
        ),
        ({"name": "a", "type": "test_echo"}, "value"),
        ({"name": "a", "type": "pipeline_executor", "pipeline_source": "x"}, "suite"),
        (
            {"name": "a", "type": "conditional_deploy", "pipeline_source": "x", "target": "t"},
            "condition",
        ),
        ({"name": "a", "type": "transform", "input": "x", "operations": []}, "at least 1"),
        ({"name": "a", "type": "python", "code": "def run(:"}, "does not parse"),
        ({"name": "a", "type": "python", "code": "def run(): pass"}, "one argument"),
        ({"name": "a", "type": "python", "code": "x = 1"}, "def run(value)"),
        ({"name": "", "type": "test_echo", "value": 1}, "at least 1 character"),
        ({"name": "a", "type": "test_echo", "value": 1, "extra": 2}, "unknown key 'extra'"),
        (
            {"name": "a", "type": "gemini", "prompt": "x", "token_budget": {"temperature": 5}},
            "less than or equal to 2",
        ),
    ],
)
def test_step_rules(step: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UserInputError) as caught:
        pipeline_from_data({"name": "p", "steps": [step]}, "p.yaml")
    assert caught.value.location.file == "p.yaml"
    assert (caught.value.location.key or "").startswith("steps[0]")
    assert fragment in caught.value.message


def test_option_bags_keep_unknown_options_but_check_known_ones() -> None:
    p = pipeline(
        {
            "name": "a",
            "type": "claude",
            "prompt": "x",
            "claude_options": {"max_turns": 2, "async_streaming": True, "stream_handler": "x"},
        }
    )
    step = p.steps[0]
    assert isinstance(step, ClaudeStep) and step.claude_options is not None
    assert step.claude_options.max_turns == 2
    assert step.claude_options.model_extra == {"async_streaming": True, "stream_handler": "x"}
    with pytest.raises(ValidationError, match="text"):
        pipeline(
            {
                "name": "a",
                "type": "claude",
                "prompt": "x",
                "claude_options": {"output_format": "xml"},
            }
        )


def test_strict_sections_refuse_unknown_keys() -> None:
    for top in (
        {"defaults": {"claude_preset": "development", "gemini_modle": "x"}},
        {"gemini_functions": {"f": {"description": "d", "parameters": {}, "extra": 1}}},
        {"providers": {"claude": {"provider": "mock", "modle": "x"}}},
        {"unknown_top": 1},
    ):
        data = {"name": "p", "steps": [{"name": "a", "type": "test_echo", "value": 1}], **top}
        with pytest.raises(UserInputError, match="unknown key"):
            pipeline_from_data(data, "p.yaml")


def test_providers_mapping() -> None:
    p = pipeline(
        {"name": "a", "type": "test_echo", "value": 1},
        providers={
            "claude": {"provider": "replay", "model": "haiku"},
            "gemini": {"provider": "mock"},
        },
    )
    assert p.providers is not None
    assert p.providers["claude"].provider == "replay" and p.providers["claude"].model == "haiku"
    with pytest.raises(ValidationError, match="anthropic"):
        pipeline(
            {"name": "a", "type": "test_echo", "value": 1},
            providers={"claude": {"provider": "openai"}},
        )


def test_recursive_steps_and_inline_pipeline() -> None:
    p = pipeline(
        {
            "name": "loop",
            "type": "for_loop",
            "iterator": "i",
            "data_source": "{{steps.x.result}}",
            "steps": [
                {
                    "name": "nested",
                    "type": "pipeline",
                    "pipeline": {
                        "name": "inner",
                        "steps": [{"name": "e", "type": "test_echo", "value": "{{loop.i}}"}],
                    },
                }
            ],
        }
    )
    loop = p.steps[0]
    assert isinstance(loop, ForLoopStep)
    nested = loop.steps[0]
    assert isinstance(nested, PipelineStep) and nested.pipeline is not None
    assert nested.pipeline.steps[0].name == "e"


def test_models_are_frozen_and_copyable() -> None:
    p = pipeline({"name": "a", "type": "transform", "input": "X", "operations": [{"op": "lower"}]})
    step = p.steps[0]
    assert isinstance(step, TransformStep)
    assert isinstance(step.operations[0], LowerOp)
    with pytest.raises(ValidationError):
        step.name = "b"  # type: ignore[misc]
    renamed = p.model_copy(update={"steps": [step.model_copy(update={"name": "b"})]})
    assert renamed.steps[0].name == "b" and p.steps[0].name == "a"


def test_python_step_accepts_run_with_one_argument() -> None:
    p = pipeline(
        {
            "name": "a",
            "type": "python",
            "code": "import json\n\ndef run(value):\n    return value\n",
        }
    )
    assert isinstance(p.steps[0], PythonStep)
    p = pipeline({"name": "a", "type": "python", "code": "def run(*args):\n    return 1\n"})
    assert isinstance(p.steps[0], PythonStep)


def test_set_variable_forms_and_batch_prompts() -> None:
    p = pipeline(
        {"name": "a", "type": "set_variable", "variable": "x", "value": [1]},
        {"name": "b", "type": "set_variable", "variables": {"y": 2}},
        {
            "name": "c",
            "type": "claude_batch",
            "prompt": "shared",
            "tasks": [{"task_id": "t1", "prompt": "one"}, {"id": "t2", "file": "f.txt"}],
        },
    )
    first, second, batch = p.steps
    assert isinstance(first, SetVariableStep) and first.value == [1]
    assert isinstance(second, SetVariableStep) and second.variables == {"y": 2}
    assert isinstance(batch, ClaudeBatchStep) and batch.tasks is not None
    assert batch.tasks[0].prompt == [StaticPart(type="static", content="one")]
