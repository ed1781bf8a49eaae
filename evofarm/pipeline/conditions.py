"""Step conditions with pipeline_ex semantics.

A condition is one of:

- ``None`` (no condition): true;
- a boolean: itself;
- a string: ``LEFT OP RIGHT`` with ``OP`` one of ``==, !=, >, <, >=, <=, contains,
  matches`` or ``LEFT between LOW and HIGH``, or ``not EXPR``, or a bare operand
  tested for truthiness (``implement_fixes.success``);
- a mapping with exactly one key ``and`` (list), ``or`` (list) or ``not``;
- a list: all of its conditions (AND).

Operands are expressions of :mod:`evofarm.pipeline.expressions` (paths such as
``step.field``, ``x.length``, numbers, quoted strings, one arithmetic operator,
functions). A path that does not resolve is ``null``, as in pipeline_ex, so
``missing_step.score > 3`` is simply false. Truthiness is pipeline_ex's: only
``null``, ``false``, ``""``, ``[]`` and ``{}`` are false (``0`` is true).

Comparisons: numbers (and numeric strings against numbers) numerically, strings
lexicographically, anything else is false for ordering. ``contains`` is substring,
list membership or mapping key. ``matches`` is a regular-expression search, run by
the ``regex`` module with a time limit so a pathological pattern cannot hang the
worker; its subject and pattern sizes are capped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import regex

from evofarm.errors import ConditionError
from evofarm.pipeline.expressions import ExpressionError, check_syntax, unresolved_reference
from evofarm.pipeline.expressions import evaluate as evaluate_expression
from evofarm.pipeline.scope import Scope

MAX_MATCH_SUBJECT_CHARS: Final = 100_000
MAX_PATTERN_CHARS: Final = 1_000
MATCH_TIMEOUT_S: Final = 0.25
_MAX_DEPTH: Final = 50

# Checked in this order; the first operator found outside quotes splits the string.
_OPERATORS: Final = (
    ("between", re.compile(r"\s+between\s+")),
    ("contains", re.compile(r"\s+contains\s+")),
    ("matches", re.compile(r"\s+matches\s+")),
    (">=", re.compile(r">=")),
    ("<=", re.compile(r"<=")),
    ("==", re.compile(r"==")),
    ("!=", re.compile(r"!=")),
    (">", re.compile(r">")),
    ("<", re.compile(r"<")),
)
_AND = re.compile(r"\s+and\s+")
_NOT = re.compile(r"not\s+", re.IGNORECASE)


def evaluate(condition: Any, scope: Scope) -> bool:
    """Whether ``condition`` holds in ``scope``.

    Raises:
        ConditionError: the condition is malformed (unknown mapping key, an
            operator without operands, a bad expression or regular expression,
            a ``matches`` subject over the size cap or a match over the time limit).
    """
    return _evaluate(condition, scope, 0)


def check(condition: Any) -> None:
    """Check a condition's form and every operand's syntax without evaluating it
    (load time): what :func:`evaluate` would reject whatever the data.

    Raises:
        ConditionError: malformed (bad operator use, unknown mapping key,
            malformed operand, unknown function, too deep).
    """
    _evaluate(condition, None, 0)


def describe(condition: Any) -> str:
    """A one-line rendering of a condition, for skip reasons and messages."""
    if isinstance(condition, str):
        return condition
    if isinstance(condition, Mapping) and len(condition) == 1:
        key, value = next(iter(condition.items()))
        if key == "not":
            return f"not ({describe(value)})"
        if isinstance(value, list):
            return f" {key} ".join(f"({describe(v)})" for v in value)
    if isinstance(condition, list):
        return " and ".join(f"({describe(v)})" for v in condition)
    return repr(condition)


def truthy(value: Any) -> bool:
    """pipeline_ex truthiness: only null, false, "", [] and {} are false."""
    if value is None or value is False:
        return False
    return not (isinstance(value, str | list | tuple | dict) and len(value) == 0)


def _evaluate(condition: Any, scope: Scope | None, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        raise ConditionError(f"condition nested more than {_MAX_DEPTH} levels deep")
    if condition is None:
        return True
    if isinstance(condition, bool):
        return condition
    if isinstance(condition, str):
        return _evaluate_string(condition, scope)
    if isinstance(condition, list):
        return all(_results(condition, scope, depth + 1))
    if isinstance(condition, Mapping):
        return _evaluate_mapping(condition, scope, depth)
    raise ConditionError(f"a condition must be a string, a mapping or a list, not {condition!r}")


def _evaluate_mapping(condition: Mapping[Any, Any], scope: Scope | None, depth: int) -> bool:
    if len(condition) != 1:
        keys = sorted(map(str, condition))
        raise ConditionError(f"a condition mapping needs exactly one of and/or/not, got {keys}")
    key, value = next(iter(condition.items()))
    if key == "not":
        return not _evaluate(value, scope, depth + 1)
    if key in ("and", "or"):
        if not isinstance(value, list):
            raise ConditionError(f"{key!r} needs a list of conditions, got {value!r}")
        results = _results(value, scope, depth + 1)
        return all(results) if key == "and" else any(results)
    raise ConditionError(f"unknown condition operator {key!r} (expected and, or, not)")


def _results(conditions: list[Any], scope: Scope | None, depth: int) -> Iterable[bool]:
    results = (_evaluate(c, scope, depth) for c in conditions)
    # Checking (no scope) must visit every branch: no short cut.
    return list(results) if scope is None else results


def _find_outside_quotes(text: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    quote: str | None = None
    for i, char in enumerate(text):
        if quote is not None:
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
            continue
        match = pattern.match(text, i)
        if match is not None:
            return match
    return None


def _evaluate_string(expression: str, scope: Scope | None) -> bool:
    text = expression.strip()
    if not text:
        raise ConditionError("empty condition")
    if "{{" in text:
        # pipeline_ex's condition engine does not resolve templates either.
        plain = text.replace("{{", "").replace("}}", "").strip()
        raise ConditionError(
            f"conditions are expressions, not templates: write {plain!r} instead of {text!r}"
        )
    # Leading "not"s are peeled off in a loop: "not not ... x" cannot recurse deeply.
    negations = 0
    while (negated := _NOT.match(text)) is not None:
        negations += 1
        text = text[negated.end() :].strip()
        if not text:
            raise ConditionError("'not' needs a condition after it")
    if negations:
        return _evaluate_string(text, scope) != (negations % 2 == 1)
    for name, pattern in _OPERATORS:
        match = _find_outside_quotes(text, pattern)
        if match is None:
            continue
        left, right = text[: match.start()].strip(), text[match.end() :].strip()
        if not left or not right:
            raise ConditionError(f"operator {name!r} needs operands on both sides in {text!r}")
        if name == "between":
            return _between(left, right, scope, text)
        return _compare(name, _operand(left, scope), _operand(right, scope))
    return truthy(_operand(text, scope))


def _operand(text: str, scope: Scope | None) -> Any:
    """The operand's value; with no scope (checking) its syntax only, as null."""
    try:
        if scope is None:
            check_syntax(text)
            return None
        value = evaluate_expression(text, scope)
    except ExpressionError as exc:
        raise ConditionError(f"cannot evaluate {text!r}: {exc}") from None
    return None if unresolved_reference(value) is not None else value


def _between(left: str, right: str, scope: Scope | None, text: str) -> bool:
    bounds = _find_outside_quotes(right, _AND)
    if bounds is None:
        raise ConditionError(f"'between' needs 'LOW and HIGH' in {text!r}")
    low = _number(_operand(right[: bounds.start()], scope))
    high = _number(_operand(right[bounds.end() :], scope))
    value = _number(_operand(left, scope))
    if value is None or low is None or high is None:
        return False
    return low <= value <= high


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "contains":
        return _contains(left, right)
    if op == "matches":
        return _matches(left, right)
    if op in ("==", "!="):
        equal = _equal(left, right)
        return equal if op == "==" else not equal
    return _order(op, left, right)


def _equal(left: Any, right: Any) -> bool:
    # A numeric string equals the number it spells (LLM answers are text).
    if isinstance(left, int | float) != isinstance(right, int | float):
        a, b = _number(left), _number(right)
        if a is not None and b is not None and not isinstance(left, bool | None):
            return a == b
    return bool(left == right)


def _order(op: str, left: Any, right: Any) -> bool:
    a: Any
    b: Any
    if isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    else:
        a, b = _number(left), _number(right)
        if a is None or b is None:
            return False
    if op == ">":
        return bool(a > b)
    if op == "<":
        return bool(a < b)
    if op == ">=":
        return bool(a >= b)
    return bool(a <= b)


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, str):
        return isinstance(needle, str) and needle in haystack
    if isinstance(haystack, list | tuple):
        return needle in haystack
    if isinstance(haystack, Mapping):
        return isinstance(needle, str) and needle in haystack
    return False


def _matches(subject: Any, pattern: Any) -> bool:
    if not isinstance(subject, str) or not isinstance(pattern, str):
        return False
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ConditionError(f"regular expression longer than {MAX_PATTERN_CHARS} characters")
    if len(subject) > MAX_MATCH_SUBJECT_CHARS:
        raise ConditionError(
            f"'matches' subject is {len(subject)} characters; the cap is {MAX_MATCH_SUBJECT_CHARS}"
        )
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise ConditionError(f"invalid regular expression {pattern!r}: {exc}") from None
    try:
        return compiled.search(subject, timeout=MATCH_TIMEOUT_S) is not None
    except TimeoutError:
        raise ConditionError(
            f"regular expression {pattern!r} took longer than {MATCH_TIMEOUT_S}s"
        ) from None
