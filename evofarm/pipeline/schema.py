"""The pipeline language's data model (pydantic v2).

One model, :class:`Pipeline`, holds both spellings evofarm reads: pipeline_ex's
``workflow:`` form and the META-PIPELINE short form (top-level keys, prompts
as plain strings). :mod:`evofarm.pipeline.loader` reads and writes files;
this module only defines the shapes.

- ``Pipeline.steps`` is a list of :data:`Step`, a union discriminated on
  ``type``; every step class derives from
  :class:`~evofarm.pipeline.schema_steps.StepBase` and has a ``Literal`` type.
  :data:`STEP_TYPES` maps each type name to its class.
- Unknown keys are errors everywhere except in option bags that pipeline_ex
  checks only loosely (``claude_options``, ``token_budget``) and in free-form
  mappings (``metadata``, ``global_vars``, ``inputs``, ...).
- Models are frozen: change them with ``model_copy(update=...)`` or rebuild
  them from data (``pipeline_from_data``), which re-validates.
- Keys that alias Python names: ``schema`` is the field ``schema_``, a nested
  output's ``as`` is ``as_``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PositiveInt

from evofarm.pipeline.schema_options import (
    PRESETS,
    BatchConfig,
    BatchTask,
    ClaudeOptions,
    Condition,
    ConversationTurn,
    DataOperation,
    ExtractionConfig,
    NestedConfig,
    NestedOutput,
    ParallelTask,
    Preset,
    RetryConfig,
    RetryOptions,
    SessionConfig,
    TokenBudget,
)
from evofarm.pipeline.schema_prompts import (
    PROMPT_PART_TYPES,
    ClaudeContinuePart,
    FilePart,
    OptionBag,
    PreviousResponsePart,
    Prompt,
    PromptPart,
    SessionContextPart,
    StaticPart,
    StrictModel,
)
from evofarm.pipeline.schema_steps import (
    ClaudeBatchStep,
    ClaudeExtractStep,
    ClaudeRobustStep,
    ClaudeSessionStep,
    ClaudeSmartStep,
    ClaudeStep,
    ConditionalDeployStep,
    DataTransformStep,
    FileOpsStep,
    ForLoopStep,
    GeminiInstructorStep,
    GeminiStep,
    LLMStep,
    ParallelClaudeStep,
    PipelineExecutorStep,
    PipelineStep,
    PythonStep,
    SetVariableStep,
    StepBase,
    TestEchoStep,
    TransformStep,
    WhileLoopStep,
)
from evofarm.pipeline.transform_ops import TransformOp

ProviderName = Literal["mock", "replay", "anthropic", "gemini"]
PROVIDER_NAMES: tuple[str, ...] = ("mock", "replay", "anthropic", "gemini")


class ProviderMapping(StrictModel):
    """What one provider slot (``claude``, ``gemini``, ...) maps to for this pipeline."""

    provider: ProviderName
    model: str | None = None


class GeminiFunction(StrictModel):
    """A ``gemini_functions`` entry: a function Gemini may call."""

    description: str
    parameters: dict[str, Any]


class Defaults(StrictModel):
    """``defaults``: values every step inherits unless it overrides them."""

    gemini_model: str | None = None
    gemini_token_budget: TokenBudget | None = None
    claude_preset: Preset | None = None
    claude_options: ClaudeOptions | None = None
    claude_output_format: Literal["json", "text", "stream_json", "stream-json"] | None = None
    output_dir: str | None = None
    timeout_seconds: PositiveInt | None = None
    retry_on_error: bool | None = None
    continue_on_error: bool | None = None


class ResourceLimits(StrictModel):
    """``resource_limits`` of a workflow."""

    max_total_steps: PositiveInt | None = None
    max_memory_mb: PositiveInt | None = None
    max_execution_time_s: PositiveInt | None = None


Step = Annotated[
    ClaudeStep
    | ClaudeSmartStep
    | ClaudeSessionStep
    | ClaudeExtractStep
    | ClaudeBatchStep
    | ClaudeRobustStep
    | ParallelClaudeStep
    | GeminiStep
    | GeminiInstructorStep
    | SetVariableStep
    | ForLoopStep
    | WhileLoopStep
    | DataTransformStep
    | FileOpsStep
    | PipelineStep
    | TestEchoStep
    | PipelineExecutorStep
    | ConditionalDeployStep
    | TransformStep
    | PythonStep,
    Field(discriminator="type"),
]
"""Any step; pydantic picks the class from the ``type`` key."""


class Pipeline(StrictModel):
    """A whole pipeline (the content of ``workflow:``, or a short-form file).

    ``providers`` maps a slot name to a provider and model for this pipeline
    (campaign settings may override it). ``inputs`` declares input names
    with their default values.
    """

    name: str = Field(min_length=1)
    description: str | None = None
    version: str | int | float | None = None
    metadata: dict[str, Any] | None = None
    defaults: Defaults | None = None
    global_vars: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    workspace_dir: str | None = None
    output_dir: str | None = None
    checkpoint_enabled: bool | None = None
    checkpoint_dir: str | None = None
    claude_auth: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    resource_limits: ResourceLimits | None = None
    gemini_functions: dict[str, GeminiFunction] | None = None
    providers: dict[str, ProviderMapping] | None = None
    steps: list[Step] = Field(min_length=1)


_NAMESPACE = {"Step": Step, "Pipeline": Pipeline}
for _model in (ForLoopStep, WhileLoopStep, PipelineStep):
    _model.model_rebuild(_types_namespace=_NAMESPACE)
Pipeline.model_rebuild()

_STEP_CLASSES: tuple[type[StepBase], ...] = (
    ClaudeStep,
    ClaudeSmartStep,
    ClaudeSessionStep,
    ClaudeExtractStep,
    ClaudeBatchStep,
    ClaudeRobustStep,
    ParallelClaudeStep,
    GeminiStep,
    GeminiInstructorStep,
    SetVariableStep,
    ForLoopStep,
    WhileLoopStep,
    DataTransformStep,
    FileOpsStep,
    PipelineStep,
    TestEchoStep,
    PipelineExecutorStep,
    ConditionalDeployStep,
    TransformStep,
    PythonStep,
)


def _type_name(cls: type[StepBase]) -> str:
    annotation = cls.model_fields["type"].annotation
    return str(annotation.__args__[0])  # type: ignore[union-attr]


STEP_TYPES: dict[str, type[StepBase]] = {_type_name(cls): cls for cls in _STEP_CLASSES}
"""Step type name -> step class, in a stable order."""

LLM_STEP_TYPES: frozenset[str] = frozenset(
    name for name, cls in STEP_TYPES.items() if issubclass(cls, LLMStep)
)
"""Types whose steps call an LLM (``claude*``, ``parallel_claude``, ``gemini*``)."""


__all__ = [
    "LLM_STEP_TYPES",
    "PRESETS",
    "PROMPT_PART_TYPES",
    "PROVIDER_NAMES",
    "STEP_TYPES",
    "BatchConfig",
    "BatchTask",
    "ClaudeBatchStep",
    "ClaudeContinuePart",
    "ClaudeExtractStep",
    "ClaudeOptions",
    "ClaudeRobustStep",
    "ClaudeSessionStep",
    "ClaudeSmartStep",
    "ClaudeStep",
    "Condition",
    "ConditionalDeployStep",
    "ConversationTurn",
    "DataOperation",
    "DataTransformStep",
    "Defaults",
    "ExtractionConfig",
    "FileOpsStep",
    "FilePart",
    "ForLoopStep",
    "GeminiFunction",
    "GeminiInstructorStep",
    "GeminiStep",
    "LLMStep",
    "NestedConfig",
    "NestedOutput",
    "OptionBag",
    "ParallelClaudeStep",
    "ParallelTask",
    "Pipeline",
    "PipelineExecutorStep",
    "PipelineStep",
    "Preset",
    "PreviousResponsePart",
    "Prompt",
    "PromptPart",
    "ProviderMapping",
    "ProviderName",
    "PythonStep",
    "ResourceLimits",
    "RetryConfig",
    "RetryOptions",
    "SessionConfig",
    "SessionContextPart",
    "SetVariableStep",
    "StaticPart",
    "Step",
    "StepBase",
    "StrictModel",
    "TestEchoStep",
    "TokenBudget",
    "TransformOp",
    "TransformStep",
    "WhileLoopStep",
]
