"""What a pipeline's steps refer to: step names in templates and conditions,
the strings, prompts and conditions of a step, the names a list of steps
defines. Used by :mod:`evofarm.pipeline.validate`; pure functions.

This is evofarm's one template-reference parser: :data:`TEMPLATE` (a ``{{ }}``
expression) and :data:`STEPS_REF` (a ``steps.X`` path) are also what
:mod:`evofarm.evolution.references` rewrites references with. Which keys hold
templates or conditions is :mod:`evofarm.pipeline.structure`'s knowledge.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

__all__ = [
    "CONDITION_ROOTS",
    "IDENTIFIER",
    "NON_TEMPLATE_KEYS",
    "STEPS_REF",
    "TEMPLATE",
    "condition_references",
    "conditions_of",
    "names_in",
    "previous_response_parts",
    "prompts_of",
    "strings_in",
    "template_references",
    "variables_in",
]

from evofarm.pipeline.schema import (
    ClaudeBatchStep,
    ClaudeSessionStep,
    DataTransformStep,
    ForLoopStep,
    LLMStep,
    ParallelClaudeStep,
    PreviousResponsePart,
    SetVariableStep,
    StepBase,
    WhileLoopStep,
)
from evofarm.pipeline.structure import NON_TEMPLATE_KEYS
from evofarm.pipeline.yaml_source import DataPath

TEMPLATE: Final = re.compile(r"\{\{([^{}]*)\}\}")
"""One template: ``{{ expression }}`` (group 1 is the expression)."""
STEPS_REF: Final = re.compile(r"(?<![\w.])steps\.([A-Za-z_][\w-]*)")
"""A ``steps.X`` path not preceded by a word character or dot (group 1 is ``X``)."""
_TEMPLATE = TEMPLATE
_STEPS_REF = STEPS_REF
_PREVIOUS_REF: Final = re.compile(r"(?<![\w.])previous_response:([A-Za-z_][\w-]*)")
_CONDITION_PATH: Final = re.compile(r"(?<![\w.])([A-Za-z_][\w-]*)((?:\.[A-Za-z_][\w-]*)+)")
_QUOTED: Final = re.compile(r"'[^']*'|\"[^\"]*\"")
IDENTIFIER: Final = re.compile(r"^[A-Za-z_][\w-]*$")

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


def names_in(steps: list[Any]) -> Iterator[str]:
    """Names of ``steps`` and of the steps in their loop bodies (not nested pipelines)."""
    for step in steps:
        yield step.name
        if isinstance(step, DataTransformStep) and step.output_field:
            yield step.output_field
        if isinstance(step, ForLoopStep | WhileLoopStep):
            yield from names_in(step.steps)


def variables_in(steps: list[Any]) -> Iterator[str]:
    for step in steps:
        if isinstance(step, SetVariableStep):
            if step.variable:
                yield step.variable
            yield from step.variables or {}
        if isinstance(step, ForLoopStep):
            yield step.iterator
        if isinstance(step, ForLoopStep | WhileLoopStep):
            yield from variables_in(step.steps)


def strings_in(value: Any, path: DataPath) -> Iterator[tuple[DataPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            # Only a step's own name/description/body/condition are skipped;
            # the same keys deeper down (e.g. inside a test_echo value) are data.
            if path or key not in NON_TEMPLATE_KEYS:
                yield from strings_in(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings_in(item, (*path, index))


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


def prompts_of(step: StepBase, path: DataPath) -> Iterator[tuple[DataPath, list[Any]]]:
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


def previous_response_parts(
    step: StepBase, path: DataPath
) -> Iterator[tuple[DataPath, PreviousResponsePart]]:
    for prompt_path, prompt in prompts_of(step, path):
        for index, part in enumerate(prompt):
            if isinstance(part, PreviousResponsePart):
                yield (*prompt_path, index), part


def conditions_of(step: StepBase, path: DataPath) -> Iterator[tuple[DataPath, Any]]:
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
