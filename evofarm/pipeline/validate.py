"""Checks a pipeline needs beyond its schema: references, names and limits.

:func:`find_problems` returns every problem as a
:class:`~evofarm.errors.PipelineValidationError`; :func:`validate_pipeline`
raises the first. Checked:

- **References to steps** must name a step that runs before the referring
  step: ``previous_response`` prompt parts, ``{{steps.X...}}`` and
  ``{{previous_response:X}}`` in any template, values such as
  ``input_source: "previous_response:X..."``, conditions (``X.field >= 8``,
  ``steps.X.field``), and a meta step's bare ``pipeline_source``. Inside a loop
  body any step of the body may be used (its result from the previous
  iteration), as pipeline_ex allows. A ``data_transform`` step's
  ``output_field`` is another name for its result. Conditions may also use
  ``inputs``/``global_vars``/``loop``/... roots, declared inputs, global
  variables, ``set_variable`` variables and loop iterators.
- **Step names** are unique within a pipeline (loop bodies included; an inline
  nested pipeline has its own names).
- **gemini functions** named by a step exist in ``gemini_functions``.
- **Limits** (:class:`PipelineLimits`): steps in total, nesting depth of loops
  and inline pipelines, inline prompt text per step, ``python`` code size and
  ``transform`` operations per step.

Pure and thread-safe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Final

from evofarm.errors import Location, PipelineValidationError, UserInputError
from evofarm.pipeline.schema import (
    ClaudeBatchStep,
    ClaudeSessionStep,
    ConditionalDeployStep,
    DataTransformStep,
    ForLoopStep,
    GeminiInstructorStep,
    GeminiStep,
    LLMStep,
    ParallelClaudeStep,
    Pipeline,
    PipelineExecutorStep,
    PipelineStep,
    PreviousResponsePart,
    PythonStep,
    SetVariableStep,
    StepBase,
    TransformStep,
    WhileLoopStep,
)
from evofarm.pipeline.schema_prompts import prompt_text_size
from evofarm.pipeline.yaml_source import DataPath, SourceMap, format_path

_TEMPLATE: Final = re.compile(r"\{\{([^{}]*)\}\}")
_STEPS_REF: Final = re.compile(r"(?<![\w.])steps\.([A-Za-z_][\w-]*)")
_PREVIOUS_REF: Final = re.compile(r"(?<![\w.])previous_response:([A-Za-z_][\w-]*)")
_CONDITION_PATH: Final = re.compile(r"(?<![\w.])([A-Za-z_][\w-]*)((?:\.[A-Za-z_][\w-]*)+)")
_QUOTED: Final = re.compile(r"'[^']*'|\"[^\"]*\"")
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][\w-]*$")

# Roots a condition path may start with that are not step names.
CONDITION_ROOTS: Final = frozenset(
    {
        "steps",
        "inputs",
        "global_vars",
        "state",
        "variables",
        "vars",
        "loop",
        "workflow",
        "environment",
        "env",
        "context",
        "config",
    }
)
# Keys whose strings are not templates evaluated against earlier steps.
_SKIP_KEYS: Final = frozenset(
    {
        "name",
        "description",
        "steps",
        "pipeline",
        "condition",
        "break_condition",
        "continue_condition",
    }
)


@dataclass(frozen=True)
class PipelineLimits:
    """Static limits on a pipeline's size (runtime limits are the executor's)."""

    max_steps: int = 200
    max_depth: int = 8
    max_prompt_chars: int = 200_000
    max_code_chars: int = 50_000
    max_operations: int = 100


@dataclass
class _Scope:
    """What one pipeline (root or inline nested) may refer to."""

    all_names: set[str]
    variables: set[str]
    functions: set[str]
    first_use: dict[str, DataPath] = field(default_factory=dict)


def _names_in(steps: list[Any]) -> Iterator[str]:
    """Names of ``steps`` and of the steps in their loop bodies (not nested pipelines)."""
    for step in steps:
        yield step.name
        if isinstance(step, DataTransformStep) and step.output_field:
            yield step.output_field
        if isinstance(step, ForLoopStep | WhileLoopStep):
            yield from _names_in(step.steps)


def _variables_in(steps: list[Any]) -> Iterator[str]:
    for step in steps:
        if isinstance(step, SetVariableStep):
            if step.variable:
                yield step.variable
            yield from step.variables or {}
        if isinstance(step, ForLoopStep):
            yield step.iterator
        if isinstance(step, ForLoopStep | WhileLoopStep):
            yield from _variables_in(step.steps)


def _strings(value: Any, path: DataPath) -> Iterator[tuple[DataPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            # Only a step's own name/description/body/condition are skipped;
            # the same keys deeper down (e.g. inside a test_echo value) are data.
            if path or key not in _SKIP_KEYS:
                yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def template_references(text: str) -> set[str]:
    """Step names a string refers to through ``{{steps.X}}``/``previous_response:X``."""
    found: set[str] = set()
    for match in _TEMPLATE.finditer(text):
        found.update(_STEPS_REF.findall(match.group(1)))
        found.update(_PREVIOUS_REF.findall(match.group(1)))
    if text.startswith("previous_response:"):
        found.update(_PREVIOUS_REF.findall(text[: text.find(" ") if " " in text else None]))
    return found


def condition_references(condition: Any, allowed_roots: set[str]) -> set[str]:
    """Step names a condition refers to (``X.field``, ``steps.X...``)."""
    found: set[str] = set()
    if isinstance(condition, dict):
        for item in condition.values():
            found |= condition_references(item, allowed_roots)
    elif isinstance(condition, list):
        for item in condition:
            found |= condition_references(item, allowed_roots)
    elif isinstance(condition, str):
        text = _QUOTED.sub(" ", condition).replace("{{", " ").replace("}}", " ")
        for root, rest in _CONDITION_PATH.findall(text):
            if root == "steps":
                found.add(rest.split(".")[1])
            elif root not in CONDITION_ROOTS and root not in allowed_roots:
                found.add(root)
        found.update(_PREVIOUS_REF.findall(text))
    return found


class _Checker:
    def __init__(self, source: SourceMap | None, limits: PipelineLimits) -> None:
        self.source = source
        self.limits = limits
        self.problems: list[UserInputError] = []
        self.step_count = 0

    def add(self, message: str, path: DataPath) -> None:
        location = (
            self.source.location(path)
            if self.source is not None
            else Location(key=format_path(path) or None)
        )
        self.problems.append(PipelineValidationError(message, location))

    # -- pipelines and step lists ------------------------------------------

    def pipeline(
        self, pipeline: Pipeline, path: DataPath, outer: set[str], outer_vars: set[str], depth: int
    ) -> None:
        scope = _Scope(
            all_names=set(_names_in(pipeline.steps)),
            variables=(
                set(outer_vars)
                | set(pipeline.global_vars or {})
                | set(pipeline.inputs or {})
                | set(_variables_in(pipeline.steps))
            ),
            functions=set(pipeline.gemini_functions or {}),
        )
        self.steps(
            list(pipeline.steps),
            path=(*path, "steps"),
            visible=set(outer),
            loop_body=set(),
            depth=depth,
            scope=scope,
        )

    def steps(
        self,
        steps: list[Any],
        *,
        path: DataPath,
        visible: set[str],
        loop_body: set[str],
        depth: int,
        scope: _Scope,
    ) -> None:
        seen = set(visible)
        for index, step in enumerate(steps):
            step_path = (*path, index)
            self.step_count += 1
            if self.step_count == self.limits.max_steps + 1:
                self.add(f"more than {self.limits.max_steps} steps (limit max_steps)", step_path)
            self.unique_name(step, step_path, scope)
            known = seen | loop_body
            self.step(step, step_path, known, scope)
            if isinstance(step, ForLoopStep | WhileLoopStep):
                self.nested_depth(step, step_path, depth)
                body = set(_names_in(step.steps))
                self.steps(
                    list(step.steps),
                    path=(*step_path, "steps"),
                    visible=known,
                    loop_body=loop_body | body,
                    depth=depth + 1,
                    scope=scope,
                )
            if isinstance(step, PipelineStep) and step.pipeline is not None:
                self.nested_depth(step, step_path, depth)
                self.pipeline(
                    step.pipeline, (*step_path, "pipeline"), known, scope.variables, depth + 1
                )
            seen.add(step.name)
            seen.update(_names_in([step]))

    def nested_depth(self, step: StepBase, path: DataPath, depth: int) -> None:
        if depth + 1 > self.limits.max_depth:
            self.add(
                f"step {step.name!r} nests deeper than {self.limits.max_depth} levels "
                "(limit max_depth)",
                path,
            )

    def unique_name(self, step: StepBase, path: DataPath, scope: _Scope) -> None:
        first = scope.first_use.get(step.name)
        if first is None:
            scope.first_use[step.name] = path
        else:
            self.add(
                f"duplicate step name {step.name!r} (first used at {format_path(first)})",
                (*path, "name"),
            )

    # -- one step -------------------------------------------------------------

    def step(self, step: StepBase, path: DataPath, known: set[str], scope: _Scope) -> None:
        reported: set[str] = set()

        def check(ref: str, ref_path: DataPath, extra: AbstractSet[str] = frozenset()) -> None:
            if ref in known or ref in extra or ref in reported:
                return
            reported.add(ref)
            if ref == step.name:
                why = "itself (a step can only use steps that ran before it)"
            elif ref in scope.all_names:
                why = f"step {ref!r}, which runs after it (a step can only use earlier steps)"
            else:
                why = f"step {ref!r}, which does not exist"
            self.add(f"step {step.name!r} refers to {why}", ref_path)

        for part_path, part in _previous_response_parts(step, path):
            check(part.step, (*part_path, "step"))
        data = step.model_dump(by_alias=True, exclude_defaults=True)
        for string_path, text in _strings(data, ()):
            for ref in sorted(template_references(text)):
                check(ref, (*path, *string_path))
        loop_names = (
            set(_names_in(step.steps)) if isinstance(step, ForLoopStep | WhileLoopStep) else set()
        )
        for cond_path, condition in _conditions(step, path):
            for ref in sorted(condition_references(condition, scope.variables)):
                check(ref, cond_path, loop_names)
        if isinstance(step, PipelineExecutorStep | ConditionalDeployStep):
            source = step.pipeline_source
            if _IDENTIFIER.match(source):
                check(source, (*path, "pipeline_source"))
        if isinstance(step, GeminiStep | GeminiInstructorStep):
            for index, function in enumerate(step.functions or []):
                if function not in scope.functions:
                    self.add(
                        f"step {step.name!r} uses gemini function {function!r}, "
                        "which is not defined in gemini_functions",
                        (*path, "functions", index),
                    )
        self.sizes(step, path)

    def sizes(self, step: StepBase, path: DataPath) -> None:
        limits = self.limits
        prompt_chars = sum(prompt_text_size(prompt) for _, prompt in _prompts(step, path))
        if prompt_chars > limits.max_prompt_chars:
            self.add(
                f"step {step.name!r} has {prompt_chars} characters of prompt text, over the "
                f"limit of {limits.max_prompt_chars} (max_prompt_chars)",
                (*path, "prompt"),
            )
        if isinstance(step, PythonStep) and len(step.code) > limits.max_code_chars:
            self.add(
                f"step {step.name!r} has {len(step.code)} characters of code, over the "
                f"limit of {limits.max_code_chars} (max_code_chars)",
                (*path, "code"),
            )
        if isinstance(step, TransformStep) and len(step.operations) > limits.max_operations:
            self.add(
                f"step {step.name!r} has {len(step.operations)} operations, over the "
                f"limit of {limits.max_operations} (max_operations)",
                (*path, "operations"),
            )


def _prompts(step: StepBase, path: DataPath) -> Iterator[tuple[DataPath, list[Any]]]:
    """Every prompt of a step with its path (the step's, tasks', turns')."""
    if isinstance(step, LLMStep) and step.prompt is not None:
        yield (*path, "prompt"), list(step.prompt)
    if isinstance(step, ClaudeBatchStep):
        for index, task in enumerate(step.tasks or []):
            if task.prompt is not None:
                yield (*path, "tasks", index, "prompt"), list(task.prompt)
    if isinstance(step, ParallelClaudeStep):
        for index, ptask in enumerate(step.parallel_tasks):
            yield (*path, "parallel_tasks", index, "prompt"), list(ptask.prompt)
    if isinstance(step, ClaudeSessionStep):
        for index, turn in enumerate(step.conversation or []):
            yield (*path, "conversation", index, "prompt"), list(turn.prompt)


def _previous_response_parts(
    step: StepBase, path: DataPath
) -> Iterator[tuple[DataPath, PreviousResponsePart]]:
    for prompt_path, prompt in _prompts(step, path):
        for index, part in enumerate(prompt):
            if isinstance(part, PreviousResponsePart):
                yield (*prompt_path, index), part


def _conditions(step: StepBase, path: DataPath) -> Iterator[tuple[DataPath, Any]]:
    if step.condition is not None:
        yield (*path, "condition"), step.condition
    if isinstance(step, ForLoopStep):
        for key in ("break_condition", "continue_condition"):
            loop_condition = getattr(step, key)
            if loop_condition is not None:
                yield (*path, key), loop_condition
    if isinstance(step, ParallelClaudeStep):
        for index, task in enumerate(step.parallel_tasks):
            if task.condition is not None:
                yield (*path, "parallel_tasks", index, "condition"), task.condition


def find_problems(
    pipeline: Pipeline,
    source: SourceMap | None = None,
    *,
    limits: PipelineLimits | None = None,
) -> list[UserInputError]:
    """Every reference, naming and limit problem of ``pipeline``, in step order.

    Args:
        pipeline: a schema-valid pipeline.
        source: positions from the loader (paths relative to the pipeline
            mapping); without it locations carry only the key path.
        limits: defaults to :class:`PipelineLimits()`.

    Returns:
        PipelineValidationError instances (empty when the pipeline is valid).
    """
    checker = _Checker(source, limits or PipelineLimits())
    checker.pipeline(pipeline, (), set(), set(), 0)
    return checker.problems


def validate_pipeline(
    pipeline: Pipeline,
    limits: PipelineLimits | None = None,
    *,
    source: SourceMap | None = None,
) -> None:
    """Raise the first problem :func:`find_problems` finds.

    Raises:
        PipelineValidationError: a dangling reference, duplicate name, unknown
            gemini function or exceeded limit.
    """
    problems = find_problems(pipeline, source, limits=limits)
    if problems:
        raise problems[0]
