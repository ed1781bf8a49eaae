"""Which earlier steps a step reads, and rewriting those references.

Evolution moves, deletes and transplants steps, so it must know a step's data
dependencies. A step refers to step ``X`` through:

* a template expression: ``{{steps.X.result}}``, ``{{steps.X}}`` or a bare
  ``{{X.field}}`` (pipeline_ex's short form);
* a condition path: ``X.field == ...`` (strings under a ``condition`` key);
* a prompt part ``{type: previous_response, step: X}``.

Only names of steps in the pipeline count, so ``{{inputs.name}}`` is never
mistaken for a reference to a step called ``name``. Everything works on the
canonical pipeline data (plain dicts and lists) and never mutates its input.

Templates and ``steps.X`` paths are found with the language's own parser
(:data:`evofarm.pipeline.references.TEMPLATE` / ``STEPS_REF``); this module adds
the bare ``{{X.field}}`` form and the rewriting evolution needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from evofarm.pipeline.references import STEPS_REF, TEMPLATE

_TEMPLATE = TEMPLATE
# A dotted path head: an identifier not preceded by a dot or word character.
_HEAD = re.compile(r"(?<![\w.])([A-Za-z_][\w-]*)(?=\.)")
_STEPS_PATH = STEPS_REF
_RESERVED = frozenset({"inputs", "global_vars", "state", "variables", "loop", "steps"})


def _names_in_expression(text: str, names: Collection[str]) -> set[str]:
    found = {m.group(1) for m in _STEPS_PATH.finditer(text)}
    found |= {m.group(1) for m in _HEAD.finditer(text) if m.group(1) not in _RESERVED}
    return {n for n in found if n in names}


def _walk_strings(
    value: Any, fn: Callable[[str, bool], str], in_condition: bool = False, top: bool = True
) -> Any:
    """Rebuild ``value`` with ``fn(text, is_condition)`` applied to every string.

    The step's own ``name`` (top level only) is left alone: it is a definition,
    not a reference.
    """
    if isinstance(value, str):
        return fn(value, in_condition)
    if isinstance(value, list):
        return [_walk_strings(v, fn, in_condition, False) for v in value]
    if isinstance(value, Mapping):
        return {
            k: (
                v
                if top and k == "name"
                else _walk_strings(v, fn, in_condition or k == "condition", False)
            )
            for k, v in value.items()
        }
    return value


def step_references(step: Mapping[str, Any], names: Collection[str]) -> set[str]:
    """Names (among ``names``) of the steps ``step`` reads, excluding itself."""
    found: set[str] = set()

    def collect(text: str, is_condition: bool) -> str:
        for match in _TEMPLATE.finditer(text):
            found.update(_names_in_expression(match.group(1), names))
        if is_condition:
            found.update(_names_in_expression(text, names))
        return text

    _walk_strings(dict(step), collect)
    found.update(_previous_response_steps(step, names))
    found.discard(str(step.get("name")))
    return found


def explicit_references(step: Mapping[str, Any]) -> set[str]:
    """Every step name ``step`` reads by an unambiguous form, known or not.

    ``{{steps.X...}}``, ``previous_response`` parts and dotted condition paths always
    name a step, so these are found even when ``X`` no longer exists (bare
    ``{{X.field}}`` template forms are only recognisable for names that do exist;
    see :func:`step_references`).
    """
    found: set[str] = set()

    def collect(text: str, is_condition: bool) -> str:
        for match in _TEMPLATE.finditer(text):
            found.update(m.group(1) for m in _STEPS_PATH.finditer(match.group(1)))
        if is_condition:
            # A dotted head in a condition is a step (``review.score > 3``) unless
            # it is one of the reserved roots.
            found.update(m.group(1) for m in _STEPS_PATH.finditer(text))
            found.update(m.group(1) for m in _HEAD.finditer(text) if m.group(1) not in _RESERVED)
        return text

    _walk_strings(dict(step), collect)
    found |= _previous_response_steps(step, _Everything())
    found.discard(str(step.get("name")))
    return found


class _Everything:
    """A collection that contains every name."""

    def __contains__(self, item: object) -> bool:
        return True


def _previous_response_steps(value: Any, names: Collection[str] | _Everything) -> set[str]:
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _previous_response_steps(item, names)
    elif isinstance(value, Mapping):
        if value.get("type") == "previous_response" and value.get("step") in names:
            found.add(str(value["step"]))
        for key, item in value.items():
            if key != "name":
                found |= _previous_response_steps(item, names)
    return found


def _rename_in_expression(text: str, old: str, new: str) -> str:
    text = re.sub(rf"(?<![\w.])steps\.{re.escape(old)}(?![\w-])", f"steps.{new}", text)
    return re.sub(rf"(?<![\w.]){re.escape(old)}(?=\.)", new, text)


def rename_reference(step: Mapping[str, Any], old: str, new: str) -> dict[str, Any]:
    """A copy of ``step`` whose references to step ``old`` point to ``new`` instead."""

    def rewrite(text: str, is_condition: bool) -> str:
        text = _TEMPLATE.sub(
            lambda m: "{{" + _rename_in_expression(m.group(1), old, new) + "}}", text
        )
        return _rename_in_expression(text, old, new) if is_condition else text

    rebuilt: dict[str, Any] = _walk_strings(dict(step), rewrite)
    renamed: dict[str, Any] = _rename_previous_response(rebuilt, old, new)
    return renamed


def _rename_previous_response(value: Any, old: str, new: str) -> Any:
    if isinstance(value, list):
        return [_rename_previous_response(v, old, new) for v in value]
    if isinstance(value, Mapping):
        out = {
            k: (v if k == "name" else _rename_previous_response(v, old, new))
            for k, v in value.items()
        }
        if out.get("type") == "previous_response" and out.get("step") == old:
            out["step"] = new
        return out
    return value


def substitute_reference(step: Mapping[str, Any], old: str, expression: str) -> dict[str, Any]:
    """A copy of ``step`` whose ``{{steps.old...}}`` template references read ``expression``.

    Used to bypass a deleted step: its readers read what it read. ``steps.old`` and
    ``steps.old.result`` both become ``expression``; a deeper path keeps its tail.
    """
    head = re.compile(rf"(?<![\w.])steps\.{re.escape(old)}(?:\.result)?(?![\w-])")

    def rewrite(text: str, is_condition: bool) -> str:
        del is_condition
        return _TEMPLATE.sub(lambda m: "{{" + head.sub(expression, m.group(1)) + "}}", text)

    rebuilt: dict[str, Any] = _walk_strings(dict(step), rewrite)
    return rebuilt


def single_template(value: Any) -> str | None:
    """The expression of a value that is exactly one ``{{ expression }}``, else None."""
    if not isinstance(value, str):
        return None
    match = _TEMPLATE.fullmatch(value.strip())
    return match.group(1).strip() if match else None


def template_expressions(step: Mapping[str, Any]) -> list[str]:
    """Distinct whole-template expressions in ``step`` (``{{ x }}`` -> ``x``), in order."""
    found: list[str] = []

    def collect(text: str, is_condition: bool) -> str:
        del is_condition
        for match in _TEMPLATE.finditer(text):
            expression = match.group(1).strip()
            if expression and expression not in found:
                found.append(expression)
        return text

    _walk_strings(dict(step), collect)
    return found


def replace_expression(step: Mapping[str, Any], old: str, new: str) -> dict[str, Any]:
    """A copy of ``step`` with every template ``{{ old }}`` (whole expression) as ``{{new}}``."""

    def rewrite(text: str, is_condition: bool) -> str:
        del is_condition
        return _TEMPLATE.sub(
            lambda m: "{{" + new + "}}" if m.group(1).strip() == old else m.group(0), text
        )

    rebuilt: dict[str, Any] = _walk_strings(dict(step), rewrite)
    return rebuilt


def dependencies(steps: Sequence[Mapping[str, Any]]) -> list[set[str]]:
    """For each step, the names of the other top-level steps it reads."""
    names = {str(s.get("name")) for s in steps}
    return [step_references(s, names) for s in steps]
