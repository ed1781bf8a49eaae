"""Option models of pipeline steps: the bags and configs step classes hold
(``claude_options``, ``retry_config``, ``batch_config``, ``session_config``,
batch and parallel tasks, ``data_transform`` operations, nested ``config``...).

Strict models reject unknown keys; :class:`~evofarm.pipeline.schema_prompts.OptionBag`
subclasses keep them (pipeline_ex checks those only loosely). What each option
does at run time, and which are accepted only for pipeline_ex compatibility, is
in docs/pipeline-format.md. Import models from :mod:`evofarm.pipeline.schema`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from evofarm.pipeline.schema_prompts import OptionBag, Prompt, StrictModel

Condition = str | bool | dict[str, Any] | list[Any]
"""A pipeline_ex condition: an expression, a map of and/or/not, or a list (AND)."""

Preset = Literal["development", "production", "analysis", "chat"]
PRESETS: tuple[str, ...] = ("development", "production", "analysis", "chat")


# ---------------------------------------------------------------- option bags


class RetryOptions(OptionBag):
    """``claude_options.retry_config`` (loose, as in pipeline_ex)."""

    max_retries: PositiveInt | None = None
    backoff_strategy: Literal["linear", "exponential"] | None = None
    retry_on: list[str] | None = None
    retry_conditions: list[str] | None = None


class ClaudeOptions(OptionBag):
    """``claude_options``: the options pipeline_ex validates are typed; others kept."""

    model: str | None = None
    max_turns: PositiveInt | None = None
    output_format: Literal["text", "json", "stream_json"] | None = None
    verbose: bool | None = None
    print: bool | None = None
    allowed_tools: list[str] | None = None
    disallowed_tools: list[str] | None = None
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    cwd: str | None = None
    session_id: str | None = None
    resume_session: bool | None = None
    debug_mode: bool | None = None
    telemetry_enabled: bool | None = None
    cost_tracking: bool | None = None
    timeout_ms: PositiveInt | None = None
    retry_config: RetryOptions | None = None
    permission_mode: Literal["default", "accept_edits", "bypass_permissions", "plan"] | None = None
    permission_prompt_tool: str | None = None
    mcp_config: str | None = None
    fallback_model: str | None = None
    pass_through_streaming: bool | None = None
    timeout_seconds: PositiveInt | None = None
    hooks: Any = None
    mcp_servers: Any = None
    agents: Any = None

    compat_only: ClassVar[frozenset[str]] = frozenset(
        {
            "fallback_model",
            "pass_through_streaming",
            "timeout_seconds",
            "hooks",
            "mcp_servers",
            "agents",
        }
    )


class TokenBudget(OptionBag):
    """``token_budget`` of gemini steps (generation parameters)."""

    max_output_tokens: PositiveInt | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: PositiveInt | None = None


class SessionConfig(StrictModel):
    """``session_config`` of ``claude_session``."""

    session_name: str | None = None
    session_id: str | None = None
    persist: bool | None = None
    continue_on_restart: bool | None = None
    checkpoint_frequency: PositiveInt | None = None
    checkpoint_interval: PositiveInt | None = None
    max_turns: PositiveInt | None = None
    max_session_turns: PositiveInt | None = None
    description: str | None = None


class ExtractionConfig(StrictModel):
    """``extraction_config`` of ``claude_extract``."""

    use_content_extractor: bool | None = None
    format: Literal["text", "json", "structured", "summary", "markdown"] | None = None
    output_format: str | None = None
    post_processing: list[str] | None = None
    max_summary_length: PositiveInt | None = None
    include_metadata: bool | None = None


class BatchConfig(StrictModel):
    """``batch_config`` of ``claude_batch``."""

    max_parallel: PositiveInt | None = None
    timeout_per_task: PositiveInt | None = None
    consolidate_results: bool | None = None


class RetryConfig(StrictModel):
    """``retry_config`` of ``claude_robust`` (``base_delay_ms``: the first backoff wait)."""

    max_retries: PositiveInt | None = None
    backoff_strategy: Literal["linear", "exponential"] | None = None
    base_delay_ms: NonNegativeInt | None = None
    retry_conditions: list[str] | None = None
    fallback_action: str | None = None


class BatchTask(StrictModel):
    """One task of ``claude_batch``: a prompt or a file."""

    task_id: str | None = None
    id: str | None = None
    prompt: Prompt | None = None
    file: str | None = None
    claude_options: ClaudeOptions | None = None
    output_to_file: str | None = None

    @model_validator(mode="after")
    def _prompt_or_file(self) -> BatchTask:
        if self.prompt is None and self.file is None:
            raise ValueError("a batch task needs 'prompt' or 'file'")
        return self


class ParallelTask(StrictModel):
    """One task of ``parallel_claude``."""

    id: str | None = None
    prompt: Prompt
    claude_options: ClaudeOptions | None = None
    output_to_file: str | None = None
    condition: Condition | None = None


class ConversationTurn(StrictModel):
    """One scripted turn of a ``claude_session`` conversation."""

    turn: PositiveInt | None = None
    prompt: Prompt
    claude_options: ClaudeOptions | None = None


DataOperationName = Literal[
    "filter", "map", "aggregate", "join", "group_by", "sort", "unique", "flatten"
]
AggregateFunction = Literal[
    "sum",
    "average",
    "min",
    "max",
    "count",
    "count_distinct",
    "first",
    "last",
    "unique",
    "std_dev",
    "variance",
]


class DataOperation(StrictModel):
    """One operation of ``data_transform``."""

    operation: DataOperationName
    field: str | None = None
    condition: str | None = None
    expression: str | None = None
    mapping: dict[str, Any] | None = None
    function: AggregateFunction | None = None
    group_by: str | None = None
    left_field: str | None = None
    right_source: str | list[Any] | dict[str, Any] | None = None
    join_key: str | None = None
    join_type: Literal["inner", "left", "right", "outer"] | None = None
    by: str | None = None
    order: Literal["asc", "desc"] | None = None

    _REQUIRED: ClassVar[dict[str, tuple[str, ...]]] = {
        "filter": ("condition",),
        "aggregate": ("function",),
        "join": ("right_source", "join_key"),
        "group_by": ("field",),
    }

    @model_validator(mode="after")
    def _has_what_it_needs(self) -> DataOperation:
        for key in self._REQUIRED.get(self.operation, ()):
            if getattr(self, key) is None:
                raise ValueError(f"operation {self.operation!r} needs '{key}'")
        if self.operation == "map" and self.mapping is None and self.expression is None:
            raise ValueError("operation 'map' needs 'mapping' or 'expression'")
        if self.operation == "sort" and self.field is None and self.by is None:
            raise ValueError("operation 'sort' needs 'field' or 'by'")
        return self


class NestedOutput(StrictModel):
    """A path-based output of a nested ``pipeline`` step: ``{path, as}``."""

    model_config = StrictModel.model_config | {"populate_by_name": True}

    path: str = Field(min_length=1)
    as_: str | None = Field(default=None, alias="as")


class NestedConfig(StrictModel):
    """``config`` of a nested ``pipeline`` step.

    ``max_total_steps`` caps the step executions inside the nested pipeline;
    ``workspace_enabled: true`` gives it a private workspace directory (false: no
    workspace, writes fail); ``cleanup_on_error`` (default true, as pipeline_ex)
    removes that private workspace when the nested pipeline fails. See
    :mod:`evofarm.pipeline.steps.nested`.
    """

    inherit_context: bool | None = None
    inherit_providers: bool | None = None
    inherit_functions: bool | None = None
    workspace_dir: str | None = None
    checkpoint_enabled: bool | None = None
    timeout_seconds: PositiveInt | None = None
    max_retries: NonNegativeInt | None = None
    continue_on_error: bool | None = None
    max_depth: PositiveInt | None = None
    max_total_steps: PositiveInt | None = None
    memory_limit_mb: PositiveInt | None = None
    enable_tracing: bool | None = None
    workspace_enabled: bool | None = None
    cleanup_on_error: bool | None = None
