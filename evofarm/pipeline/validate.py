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
- **Conditions** are well formed (operators, operands, functions), checked
  without evaluating them (:func:`evofarm.pipeline.conditions.check`).
- **gemini functions** named by a step (``functions`` or ``tools``) exist in
  ``gemini_functions``.
- **Loop control**: ``break``/``continue`` steps stand only inside a loop body.
- **Limits** (:class:`PipelineLimits`): steps in total, nesting depth of loops
  and inline pipelines, inline prompt text per step, ``python`` code size and
  ``transform`` operations per step.

Pure and thread-safe.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from evofarm.errors import ConditionError, Location, PipelineValidationError, UserInputError
from evofarm.pipeline import conditions
from evofarm.pipeline.references import (
    IDENTIFIER,
    condition_references,
    conditions_of,
    names_in,
    previous_response_parts,
    prompts_of,
    strings_in,
    template_references,
    variables_in,
)
from evofarm.pipeline.schema import (
    ConditionalDeployStep,
    ForLoopStep,
    GeminiInstructorStep,
    GeminiStep,
    Pipeline,
    PipelineExecutorStep,
    PipelineStep,
    PythonStep,
    StepBase,
    TransformStep,
    WhileLoopStep,
)
from evofarm.pipeline.schema_prompts import prompt_text_size
from evofarm.pipeline.schema_steps import LOOP_CONTROL_TYPES
from evofarm.pipeline.yaml_source import DataPath, SourceMap, format_path


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
            all_names=set(names_in(pipeline.steps)),
            variables=(
                set(outer_vars)
                | set(pipeline.global_vars or {})
                | set(pipeline.inputs or {})
                | set(variables_in(pipeline.steps))
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
            in_loop=False,
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
        in_loop: bool,
    ) -> None:
        seen = set(visible)
        for index, step in enumerate(steps):
            step_path = (*path, index)
            self.step_count += 1
            if self.step_count == self.limits.max_steps + 1:
                self.add(f"more than {self.limits.max_steps} steps (limit max_steps)", step_path)
            self.unique_name(step, step_path, scope)
            if step.type in LOOP_CONTROL_TYPES and not in_loop:
                self.add(
                    f"step {step.name!r}: '{step.type}' is only valid inside a "
                    "for_loop or while_loop body",
                    (*step_path, "type"),
                )
            known = seen | loop_body
            self.step(step, step_path, known, scope)
            if isinstance(step, ForLoopStep | WhileLoopStep):
                self.nested_depth(step, step_path, depth)
                body = set(names_in(step.steps))
                self.steps(
                    list(step.steps),
                    path=(*step_path, "steps"),
                    visible=known,
                    loop_body=loop_body | body,
                    depth=depth + 1,
                    scope=scope,
                    in_loop=True,
                )
            if isinstance(step, PipelineStep) and step.pipeline is not None:
                self.nested_depth(step, step_path, depth)
                self.pipeline(
                    step.pipeline, (*step_path, "pipeline"), known, scope.variables, depth + 1
                )
            seen.add(step.name)
            seen.update(names_in([step]))

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

        for part_path, part in previous_response_parts(step, path):
            check(part.step, (*part_path, "step"))
        data = step.model_dump(by_alias=True, exclude_defaults=True)
        for string_path, text in strings_in(data, ()):
            for ref in sorted(template_references(text)):
                check(ref, (*path, *string_path))
        loop_names = (
            set(names_in(step.steps)) if isinstance(step, ForLoopStep | WhileLoopStep) else set()
        )
        for cond_path, condition in conditions_of(step, path):
            try:
                conditions.check(condition)
            except ConditionError as exc:
                self.add(f"step {step.name!r}: malformed condition: {exc.message}", cond_path)
                continue
            for ref in sorted(condition_references(condition, scope.variables)):
                check(ref, cond_path, loop_names)
        if isinstance(step, PipelineExecutorStep | ConditionalDeployStep):
            source = step.pipeline_source
            if IDENTIFIER.match(source):
                check(source, (*path, "pipeline_source"))
        if isinstance(step, GeminiStep | GeminiInstructorStep):
            for key in ("functions", "tools"):
                for index, function in enumerate(getattr(step, key) or []):
                    if function not in scope.functions:
                        self.add(
                            f"step {step.name!r} uses gemini function {function!r}, "
                            "which is not defined in gemini_functions",
                            (*path, key, index),
                        )
        self.sizes(step, path)

    def sizes(self, step: StepBase, path: DataPath) -> None:
        limits = self.limits
        prompt_chars = sum(prompt_text_size(prompt) for _, prompt in prompts_of(step, path))
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
