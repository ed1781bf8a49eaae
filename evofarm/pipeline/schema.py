"""The pipeline language's data model (pydantic v2).

One model, :class:`Pipeline`, holds both spellings evofarm reads: pipeline_ex's
``workflow:`` form and the META-PIPELINE short form (top-level keys, prompts
as plain strings). :mod:`evofarm.pipeline.loader` reads and writes files;
this module only defines the shapes.

- ``Pipeline.steps`` is a list of :data:`~evofarm.pipeline.step_types.Step`:
  each mapping is validated by the model registered for its ``type`` in the
  step-type registry (:mod:`evofarm.pipeline.step_types`), so a step type added
  by a plugin loads with no edit here. Every step class derives from
  :class:`~evofarm.pipeline.schema_base.StepBase` and has a ``Literal`` type.
  :data:`STEP_TYPES` (name -> class) and :data:`LLM_STEP_TYPES` are read from
  that registry when asked for, never listed here.
- Unknown keys are errors everywhere except in option bags that pipeline_ex
  checks only loosely (``claude_options``, ``token_budget``) and in free-form
  mappings (``metadata``, ``global_vars``, ``inputs``, ...).
- Models are frozen: change them with ``model_copy(update=...)`` or rebuild
  them from data (``pipeline_from_data``), which re-validates.
- Keys that alias Python names: ``schema`` is the field ``schema_``, a nested
  output's ``as`` is ``as_``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt, model_validator

from evofarm.pipeline.schema_base import LLMStep, StepBase
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
    BreakStep,
    ClaudeBatchStep,
    ClaudeExtractStep,
    ClaudeRobustStep,
    ClaudeSessionStep,
    ClaudeSmartStep,
    ClaudeStep,
    ConditionalDeployStep,
    ContinueStep,
    DataTransformStep,
    FileOpsStep,
    ForLoopStep,
    GeminiInstructorStep,
    GeminiStep,
    ParallelClaudeStep,
    PipelineExecutorStep,
    PythonStep,
    SetVariableStep,
    TestEchoStep,
    TransformStep,
    WhileLoopStep,
)
from evofarm.pipeline.step_types import Step, llm_step_types, step_models
from evofarm.pipeline.transform_ops import TransformOp
from evofarm.providers.base import PROVIDERS, ProviderName


class ProviderMapping(StrictModel):
    """What one provider slot (``claude``, ``gemini``, ...) maps to for this pipeline.

    ``provider`` must be registered in the provider registry (checked on load).
    """

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
    # pipeline_ex keys evofarm accepts and ignores (a load warning each; see compat.py)
    setting_sources: Any = None
    enable_context_management: Any = None
    enable_skills: Any = None
    hooks: Any = None
    mcp_servers: Any = None
    agents: Any = None
    memory_config: Any = None
    variables: Any = None
    input: Any = None
    steps: list[Step] = Field(min_length=1)

    compat_only: ClassVar[frozenset[str]] = frozenset(
        {
            "setting_sources",
            "enable_context_management",
            "enable_skills",
            "hooks",
            "mcp_servers",
            "agents",
            "memory_config",
            "variables",
            "input",
        }
    )


class PipelineStep(StepBase):
    """``pipeline``: run a nested pipeline from ``pipeline_file`` or inline ``pipeline``."""

    type: Literal["pipeline"]
    pipeline_file: str | None = None
    pipeline_ref: str | None = None
    pipeline: Pipeline | None = None
    inputs: dict[str, Any] | None = None
    outputs: list[str | NestedOutput] | None = None
    config: NestedConfig | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PipelineStep:
        given = [k for k in ("pipeline_file", "pipeline_ref", "pipeline") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "a pipeline step needs exactly one of 'pipeline_file', 'pipeline_ref' or "
                f"'pipeline' (got {', '.join(given) or 'none'})"
            )
        return self


PipelineStep.model_rebuild()
Pipeline.model_rebuild()


def __getattr__(name: str) -> Any:
    """Names derived from the registries when first asked for (never listed here)."""
    if name == "STEP_TYPES":
        return step_models()
    if name == "LLM_STEP_TYPES":
        return llm_step_types()
    if name == "PROVIDER_NAMES":
        return tuple(PROVIDERS.names())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


STEP_TYPES: dict[str, type[StepBase]]
"""Step type name -> step class, in registration order (from the step-type registry)."""
LLM_STEP_TYPES: frozenset[str]
"""Types whose steps call an LLM (``claude*``, ``parallel_claude``, ``gemini*``, plugins')."""
PROVIDER_NAMES: tuple[str, ...]
"""Registered provider names (from the provider registry)."""


__all__ = [
    "LLM_STEP_TYPES",
    "PRESETS",
    "PROMPT_PART_TYPES",
    "PROVIDER_NAMES",
    "STEP_TYPES",
    "BatchConfig",
    "BatchTask",
    "BreakStep",
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
    "ContinueStep",
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
