"""Turning pydantic validation errors into evofarm's one-line user errors.

Each pydantic error has a ``loc`` through the model (with union tags such as
``claude`` mixed in); :func:`schema_problems` walks that ``loc`` through the
input data to recover the real key path, looks the path up in the
:class:`~evofarm.pipeline.yaml_source.SourceMap` for a line and column, and
rewrites the message for a human: ``unknown key 'promt' (did you mean
'prompt'?)``, ``missing required key 'prompt'``, ``step 'x' has unknown type
'y'; valid types: ...``.
"""

from __future__ import annotations

import difflib
import functools
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from evofarm.errors import Location, PipelineLoadError, PipelineValidationError, UserInputError
from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.schema_prompts import PROMPT_PART_TYPES
from evofarm.pipeline.step_types import STEP_REGISTRY, step_models
from evofarm.pipeline.transform_ops import OP_NAMES
from evofarm.pipeline.yaml_source import DataPath, SourceMap, format_path

_MAX_SHOWN = 60


def _models_in(annotation: Any, found: set[type[BaseModel]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in found:
            return
        found.add(annotation)
        for info in annotation.model_fields.values():
            _models_in(info.annotation, found)
        return
    for arg in typing.get_args(annotation):
        _models_in(arg, found)


def known_keys() -> tuple[str, ...]:
    """Every key any schema model accepts (for "did you mean" suggestions).

    Computed once per set of registered step types (a plugin may add some).
    """
    return _known_keys(tuple(step_models().values()))


@functools.cache
def _known_keys(step_classes: tuple[type[BaseModel], ...]) -> tuple[str, ...]:
    models: set[type[BaseModel]] = set()
    _models_in(Pipeline, models)
    for cls in step_classes:
        _models_in(cls, models)
    keys = {info.alias or name for model in models for name, info in model.model_fields.items()}
    return tuple(sorted(keys))


def _model_keys(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(info.alias or name for name, info in model.model_fields.items())


def _keys_at(data: Any, path: DataPath) -> tuple[str, ...]:
    """Keys valid in the mapping at ``path``: its model's when known, else every key."""
    if not path:
        return _model_keys(Pipeline)
    if _is_step_path(path):
        current = data
        for part in path:
            current = current[part]
        model = step_models().get(str(current.get("type"))) if isinstance(current, dict) else None
        if model is not None:
            return _model_keys(model)
    return known_keys()


def _suggest(word: str, choices: tuple[str, ...]) -> str | None:
    # The word itself is no suggestion (it is valid elsewhere, not here).
    close = difflib.get_close_matches(word, [c for c in choices if c != word], n=1, cutoff=0.7)
    return close[0] if close else None


def _walk(data: Any, loc: tuple[int | str, ...]) -> tuple[DataPath, Any, list[int | str]]:
    """Follow ``loc`` through ``data``; return (data path, value there, unmatched parts)."""
    path: list[str | int] = []
    current = data
    unmatched: list[int | str] = []
    for part in loc:
        in_dict = isinstance(current, dict) and isinstance(part, str) and part in current
        in_list = (
            isinstance(current, list)
            and isinstance(part, int)
            and not isinstance(part, bool)
            and 0 <= part < len(current)
        )
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        else:
            # A union tag ("claude"), a type label ("str"), or a missing key.
            unmatched.append(part)
    return tuple(path), current, unmatched


def _step_name(data: Any, path: DataPath) -> str | None:
    """Name of the innermost step on ``path`` (a list item under a ``steps`` key)."""
    name: str | None = None
    current = data
    previous: str | int | None = None
    for part in path:
        current = current[part]
        if (
            previous == "steps"
            and isinstance(part, int)
            and isinstance(current, dict)
            and isinstance(current.get("name"), str)
        ):
            name = current["name"]
        previous = part
    return name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _type_label(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return _short(value)


def _union_problem(
    error: ErrorDetails, data: Any, path: DataPath, value: Any, source_map: SourceMap
) -> UserInputError:
    ctx = error.get("ctx") or {}
    discriminator = str(ctx.get("discriminator", "'type'")).strip("'")
    tag = ctx.get("tag")
    expected = str(ctx.get("expected_tags", ""))
    if discriminator == "op":
        kind, valid = "transform operation", OP_NAMES
    elif "'test_echo'" in expected or (not expected and _is_step_path(path)):
        kind, valid = "step type", tuple(STEP_REGISTRY.names())
    else:
        kind, valid = "prompt part type", PROMPT_PART_TYPES
    valid_text = ", ".join(valid)
    has_tag = isinstance(value, dict) and discriminator in value
    where = source_map.location((*path, discriminator) if has_tag else path)
    name = value.get("name") if isinstance(value, dict) else None
    subject = f"step {name!r}" if kind == "step type" and isinstance(name, str) else None
    if error["type"] == "union_tag_not_found":
        message = f"missing '{discriminator}'; valid {kind}s: {valid_text}"
        if subject:
            message = f"{subject} has no 'type'; valid step types: {valid_text}"
    else:
        message = f"unknown {kind} {tag!r}; valid {kind}s: {valid_text}"
        if subject:
            message = f"{subject} has unknown type {tag!r}; valid types: {valid_text}"
        close = _suggest(str(tag), valid)
        if close:
            message += f" (did you mean {close!r}?)"
    if kind == "step type":
        return PipelineValidationError(message, where)
    step = _step_name(data, path)
    prefix = f"step {step!r}: " if step else ""
    return PipelineLoadError(prefix + message, where)


def _is_step_path(path: DataPath) -> bool:
    return len(path) >= 2 and path[-2] == "steps" and isinstance(path[-1], int)


def _message(error: ErrorDetails, value: Any) -> str:
    kind = error["type"]
    msg = error["msg"]
    if kind in {"value_error", "assertion_error"}:
        for lead in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(lead)
        return msg
    msg = msg.replace("Input should be", "expected").replace("Input", "value")
    return f"{msg}, got {_type_label(value)}"


def _one_problem(error: ErrorDetails, data: Any, source_map: SourceMap) -> UserInputError:
    path, value, unmatched = _walk(data, tuple(error["loc"]))
    kind = error["type"]
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        return _union_problem(error, data, path, value, source_map)
    step = _step_name(data, path)
    prefix = f"step {step!r}: " if step else ""
    if kind == "missing" and unmatched and isinstance(unmatched[-1], str):
        key = unmatched[-1]
        where = source_map.location(path)
        location = Location(where.file, where.line, where.column, format_path((*path, key)))
        message = f"{prefix}missing required key {key!r}"
        if isinstance(value, dict):
            # Point at the likely typo, so a one-line report is enough to fix it.
            typo = _suggest(key, tuple(str(k) for k in value if k != key))
            if typo:
                message += f" (is {typo!r} a misspelling?)"
        return PipelineLoadError(message, location)
    if kind == "extra_forbidden" and path and isinstance(path[-1], str):
        key = path[-1]
        message = f"{prefix}unknown key {key!r}"
        close = _suggest(key, _keys_at(data, path[:-1]))
        if close:
            message += f" (did you mean {close!r}?)"
        return PipelineLoadError(message, source_map.location(path, prefer_key=True))
    return PipelineLoadError(prefix + _message(error, value), source_map.location(path))


def schema_problems(exc: ValidationError, data: Any, source_map: SourceMap) -> list[UserInputError]:
    """One user error per pydantic error, in file order.

    Args:
        exc: the error from validating ``data``.
        data: the input that was validated (the pipeline mapping).
        source_map: positions of ``data``'s paths (may be empty).

    Returns:
        PipelineLoadError (schema) and PipelineValidationError (unknown step
        type) instances, deduplicated, sorted by line.
    """
    problems: list[UserInputError] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        problem = _one_problem(error, data, source_map)
        if str(problem) not in seen:
            seen.add(str(problem))
            problems.append(problem)
    problems.sort(key=lambda p: (p.location.line or 0, p.location.column or 0))
    return problems
