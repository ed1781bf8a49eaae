"""Step models of the pipeline schema (one class per step type).

Every step type pipeline_ex accepts is here with its options, plus the
META-PIPELINE meta steps (``pipeline_executor``, ``conditional_deploy``) and
evofarm's own ``transform`` and ``python`` steps. Keys are checked strictly
(a misspelt key is an error) except inside option bags such as
``claude_options`` and ``token_budget``, which pipeline_ex itself checks only
loosely (see :class:`~evofarm.pipeline.schema_prompts.OptionBag`).

Step lists (loop bodies) are :data:`~evofarm.pipeline.step_types.Step`: any
registered step type. The ``pipeline`` step, which holds a whole inline
pipeline, is defined with :class:`~evofarm.pipeline.schema.Pipeline`. Each
model is registered as a step type by the module of its implementation
(``evofarm.pipeline.steps.*``); import models from :mod:`evofarm.pipeline.schema`.
"""

from __future__ import annotations

import ast
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from evofarm.pipeline.schema_base import LLMStep, StepBase
from evofarm.pipeline.schema_options import (
    BatchConfig,
    BatchTask,
    ClaudeOptions,
    Condition,
    ConversationTurn,
    DataOperation,
    ExtractionConfig,
    ParallelTask,
    Preset,
    RetryConfig,
    SessionConfig,
    TokenBudget,
)
from evofarm.pipeline.schema_prompts import Prompt
from evofarm.pipeline.step_types import Step
from evofarm.pipeline.transform_ops import TransformOp


class _ClaudeStep(LLMStep):
    claude_options: ClaudeOptions | None = None


class ClaudeStep(_ClaudeStep):
    """``claude``: one Claude call."""

    type: Literal["claude"]
    prompt: Prompt


class ClaudeSmartStep(_ClaudeStep):
    """``claude_smart``: Claude with an option preset."""

    type: Literal["claude_smart"]
    prompt: Prompt
    preset: Preset | None = None
    environment_aware: bool | None = None


class ClaudeSessionStep(_ClaudeStep):
    """``claude_session``: a multi-turn conversation kept within the run."""

    type: Literal["claude_session"]
    prompt: Prompt
    preset: Preset | None = None
    session_config: SessionConfig
    conversation: list[ConversationTurn] | None = None


class ClaudeExtractStep(_ClaudeStep):
    """``claude_extract``: Claude plus content extraction and post-processing."""

    type: Literal["claude_extract"]
    prompt: Prompt
    preset: Preset | None = None
    extraction_config: ExtractionConfig | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")

    model_config = _ClaudeStep.model_config | {"populate_by_name": True}


class ClaudeBatchStep(_ClaudeStep):
    """``claude_batch``: several tasks, ``batch_config.max_parallel`` at a time."""

    type: Literal["claude_batch"]
    preset: Preset | None = None
    batch_config: BatchConfig | None = None
    tasks: list[BatchTask] | None = None

    @model_validator(mode="after")
    def _prompt_or_tasks(self) -> ClaudeBatchStep:
        if self.prompt is None and not self.tasks:
            raise ValueError("a claude_batch step needs 'prompt' or 'tasks'")
        return self


class ClaudeRobustStep(_ClaudeStep):
    """``claude_robust``: Claude with retries, backoff and a fallback action."""

    type: Literal["claude_robust"]
    prompt: Prompt
    preset: Preset | None = None
    retry_config: RetryConfig | None = None


class ParallelClaudeStep(_ClaudeStep):
    """``parallel_claude``: independent Claude tasks run concurrently."""

    type: Literal["parallel_claude"]
    parallel_tasks: list[ParallelTask] = Field(min_length=1)


class GeminiStep(LLMStep):
    """``gemini``: one Gemini call, optionally with function calling."""

    provider_slot: ClassVar[str] = "gemini"
    type: Literal["gemini"]
    prompt: Prompt
    token_budget: TokenBudget | None = None
    functions: list[str] | None = None
    tools: list[str] | None = None
    timeout_ms: PositiveInt | None = None


class GeminiInstructorStep(LLMStep):
    """``gemini_instructor``: Gemini with structured (schema-checked) output."""

    provider_slot: ClassVar[str] = "gemini"
    type: Literal["gemini_instructor"]
    prompt: Prompt
    token_budget: TokenBudget | None = None
    functions: list[str] | None = None
    tools: list[str] | None = None
    timeout_ms: PositiveInt | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    validation_mode: Literal["strict", "loose"] | None = None

    model_config = LLMStep.model_config | {"populate_by_name": True}


# ---------------------------------------------------------------- other steps


class SetVariableStep(StepBase):
    """``set_variable``: ``variable`` + ``value``, or a ``variables`` mapping."""

    type: Literal["set_variable"]
    variable: str | None = Field(default=None, min_length=1)
    value: Any = None
    variables: dict[str, Any] | None = None
    scope: Literal["global", "local", "session"] | None = None
    streaming: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> SetVariableStep:
        if (self.variable is None) == (self.variables is None):
            raise ValueError("set_variable needs either 'variable' (with 'value') or 'variables'")
        return self


class ForLoopStep(StepBase):
    """``for_loop``: run ``steps`` once per item of ``data_source``.

    ``break_condition`` / ``continue_condition`` are checked after each
    iteration (pipeline_ex semantics).
    """

    type: Literal["for_loop"]
    iterator: str = Field(min_length=1)
    data_source: str | list[Any]
    steps: list[Step] = Field(min_length=1)
    parallel: bool | None = None
    max_parallel: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    break_on_error: bool | None = None
    break_condition: Condition | None = None
    continue_condition: Condition | None = None


class WhileLoopStep(StepBase):
    """``while_loop``: run ``steps`` while ``condition`` holds, at most ``max_iterations``."""

    type: Literal["while_loop"]
    condition: Condition
    steps: list[Step] = Field(min_length=1)
    max_iterations: PositiveInt | None = None
    timeout_seconds: PositiveInt | None = None


class DataTransformStep(StepBase):
    """``data_transform``: filter/map/aggregate/join/group_by/sort over structured data."""

    type: Literal["data_transform"]
    input_source: str | list[Any] | dict[str, Any]
    operations: list[DataOperation] = Field(min_length=1)
    output_field: str | None = Field(default=None, min_length=1)
    output_format: Literal["json", "string", "count"] | None = None
    lazy: dict[str, Any] | None = None


class FileOpsStep(StepBase):
    """``file_ops``: file operations confined to the run's workspace."""

    type: Literal["file_ops"]
    operation: Literal[
        "copy", "move", "delete", "validate", "list", "convert", "stream_copy", "stream_process"
    ]
    source: str | list[str] | None = None
    destination: str | None = None
    path: str | None = None
    files: list[str | dict[str, Any]] | None = None
    format: str | None = None
    pattern: str | None = None
    recursive: bool | None = None
    processor: str | None = None


class TestEchoStep(StepBase):
    """``test_echo``: returns its resolved ``value`` (always available, no LLM).

    With ``fail: true`` the step fails with ``error_message`` (templates resolved;
    default ``"test_echo failed"``): pipeline_ex's way to test error handling.
    """

    __test__ = False  # not a pytest test class despite the name

    type: Literal["test_echo"]
    value: Any
    fail: bool | None = None
    error_message: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _failing_needs_no_value(cls, data: Any) -> Any:
        # A failing echo never returns its value; pipeline_ex files omit it.
        if isinstance(data, dict) and data.get("fail") is True and "value" not in data:
            return {**data, "value": None}
        return data


class BreakStep(StepBase):
    """``break`` (inside a loop body): end the innermost loop after this step.

    With a ``condition`` it breaks only when the condition holds (a false
    condition skips the step, as for any step). Outside a loop it is a
    validation error.
    """

    type: Literal["break"]


LOOP_CONTROL_TYPES: frozenset[str] = frozenset({"break", "continue"})
"""Step types valid only inside a loop body (validation refuses them elsewhere)."""


class ContinueStep(StepBase):
    """``continue`` (inside a loop body): skip the rest of this iteration."""

    type: Literal["continue"]


class PipelineExecutorStep(StepBase):
    """``pipeline_executor`` (META-PIPELINE): evaluate a produced pipeline on a suite.

    ``pipeline_source`` is a template or step reference giving pipeline YAML
    (e.g. ``"{{steps.synthesize.result}}"``); the step's result is the fitness.
    """

    type: Literal["pipeline_executor"]
    pipeline_source: str = Field(min_length=1)
    suite: str = Field(min_length=1)
    fidelity: int | float | str | None = None
    inputs: dict[str, Any] | None = None


class ConditionalDeployStep(StepBase):
    """``conditional_deploy`` (META-PIPELINE): promote a pipeline when ``condition`` holds."""

    type: Literal["conditional_deploy"]
    condition: Condition
    pipeline_source: str = Field(min_length=1)
    target: str = Field(min_length=1)


class TransformStep(StepBase):
    """``transform`` (evofarm): fold ``input`` through a list of fixed operations."""

    type: Literal["transform"]
    input: Any
    operations: Annotated[list[TransformOp], Field(min_length=1)]


class PythonStep(StepBase):
    """``python`` (evofarm): ``code`` defines ``def run(value)``, called with ``input``.

    The code is checked for syntax and for a top-level ``run`` taking one
    argument when the pipeline loads; it only ever runs inside the sandbox.
    """

    type: Literal["python"]
    input: Any = None
    code: str = Field(min_length=1)

    @field_validator("code")
    @classmethod
    def _defines_run(cls, code: str) -> str:
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            raise ValueError(f"python code does not parse: {exc.msg} (line {exc.lineno})") from None
        except (ValueError, RecursionError, MemoryError) as exc:
            raise ValueError(f"python code does not parse: {exc}") from None
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "run":
                positional = node.args.posonlyargs + node.args.args
                if len(positional) >= 1 or node.args.vararg is not None:
                    return code
                raise ValueError("python code: 'run' must take one argument (the input value)")
        raise ValueError("python code must define a top-level 'def run(value)'")
