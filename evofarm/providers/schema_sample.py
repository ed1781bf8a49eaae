"""A deterministic example value for a JSON schema.

The mock provider answers structured-output requests (``response_schema``) with
such a value, so offline runs of ``claude_extract`` / ``gemini_instructor`` steps
get JSON that validates. Only the common subset of JSON Schema is understood
(type, enum, const, default, properties/required, items/minItems, anyOf/oneOf/
allOf's first branch, string minLength/format, numeric minimum); anything else
yields the simplest value of the declared type.

The schema comes from the candidate, so what it can make is capped: at most
``max_chars`` characters of strings and values in all (a ``minLength`` of 10**15 gets what
is left, not a MemoryError), :data:`MAX_PROPERTIES` properties per object,
:data:`MAX_ITEMS` items per array, nesting :data:`_MAX_DEPTH` deep; a non-finite
or absurd ``minimum`` (``Infinity``, ``1e400``) gives 0. A capped value may not
validate; the step then fails as it would with a real model's bad answer.
"""

from __future__ import annotations

import math
from typing import Any

# Deep or self-referencing schemas must not recurse without end.
_MAX_DEPTH = 8
#: Characters of string content one sample may hold in all (default).
MAX_CHARS = 64 * 1024
MAX_PROPERTIES = 256
MAX_ITEMS = 16
#: Numbers beyond this magnitude are not honoured as a minimum.
_MAX_NUMBER = 1e15


class _Budget:
    """What is left of the characters one sample may make."""

    def __init__(self, chars: int) -> None:
        self.chars = max(0, chars)

    def take(self, wanted: int) -> int:
        granted = min(max(0, wanted), self.chars)
        self.chars -= granted
        return granted


def sample_for_schema(
    schema: Any, *, max_chars: int = MAX_CHARS, _depth: int = 0, _budget: _Budget | None = None
) -> Any:
    """A value meant to validate against ``schema``, within the caps of the module docs.

    Args:
        schema: A JSON schema (a mapping); anything else gives ``None``.
        max_chars: Characters of string content the whole value may hold.

    Returns:
        A JSON-compatible value (never NaN or infinite). The same schema always
        gives the same value. Never raises for any JSON input.
    """
    budget = _budget if _budget is not None else _Budget(max_chars)
    # Every value costs at least one character, so no schema makes more values
    # than the budget (an array of arrays of 16 items, 8 deep, would be 16**8).
    if not budget.take(1) or not isinstance(schema, dict) or _depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            return sample_for_schema(branches[0], _depth=_depth + 1, _budget=budget)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None and "properties" in schema:
        kind = "object"
    return _sample_of_type(kind, schema, _depth, budget)


def _sample_of_type(kind: Any, schema: dict[str, Any], depth: int, budget: _Budget) -> Any:
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        names = list(props)[:MAX_PROPERTIES]
        out: dict[str, Any] = {}
        for name in names:
            if budget.take(len(str(name))) < len(str(name)):
                break  # the keys count against the budget too
            out[str(name)] = sample_for_schema(props[name], _depth=depth + 1, _budget=budget)
        return out
    if kind == "array":
        min_items = schema.get("minItems", 1)
        count = min_items if isinstance(min_items, int) and 0 <= min_items <= MAX_ITEMS else 1
        items = []
        for _ in range(count):
            if budget.chars <= 0:
                break
            items.append(
                sample_for_schema(schema.get("items", {}), _depth=depth + 1, _budget=budget)
            )
        return items
    if kind == "string":
        return _sample_string(schema, budget)
    if kind in ("number", "integer"):
        minimum = schema.get("minimum", schema.get("exclusiveMinimum"))
        base: float = _finite(minimum)
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            base += 1
        return int(base) if kind == "integer" else float(base)
    if kind == "boolean":
        return True
    return None


def _finite(value: Any) -> float:
    """``value`` as a usable number: 0 for non-numbers, non-finite or huge values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        return 0
    if not math.isfinite(number) or abs(number) > _MAX_NUMBER:
        return 0
    return value


def _sample_string(schema: dict[str, Any], budget: _Budget) -> str:
    formats = {
        "date": "2024-01-01",
        "date-time": "2024-01-01T00:00:00Z",
        "email": "mock@example.com",
        "uri": "https://example.com/mock",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    text = formats.get(str(schema.get("format")), "mock")
    text = text[: budget.take(len(text))]
    min_len = schema.get("minLength")
    if isinstance(min_len, int) and len(text) < min_len:
        text = text + "x" * budget.take(min_len - len(text))
    return text
