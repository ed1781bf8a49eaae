"""A deterministic example value for a JSON schema.

The mock provider answers structured-output requests (``response_schema``) with
such a value, so offline runs of ``claude_extract`` / ``gemini_instructor`` steps
get JSON that validates. Only the common subset of JSON Schema is understood
(type, enum, const, default, properties/required, items/minItems, anyOf/oneOf/
allOf's first branch, string minLength/format, numeric minimum); anything else
yields the simplest value of the declared type.
"""

from __future__ import annotations

from typing import Any

# Deep or self-referencing schemas must not recurse without end.
_MAX_DEPTH = 8


def sample_for_schema(schema: Any, *, _depth: int = 0) -> Any:
    """A value meant to validate against ``schema``.

    Args:
        schema: A JSON schema (a mapping); anything else gives ``None``.

    Returns:
        A JSON-compatible value. The same schema always gives the same value.
    """
    if not isinstance(schema, dict) or _depth > _MAX_DEPTH:
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
            return sample_for_schema(branches[0], _depth=_depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None and "properties" in schema:
        kind = "object"
    return _sample_of_type(kind, schema, _depth)


def _sample_of_type(kind: Any, schema: dict[str, Any], depth: int) -> Any:
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: sample_for_schema(sub, _depth=depth + 1) for name, sub in props.items()}
    if kind == "array":
        min_items = schema.get("minItems", 1)
        count = min_items if isinstance(min_items, int) and 0 <= min_items <= 16 else 1
        item = sample_for_schema(schema.get("items", {}), _depth=depth + 1)
        return [item for _ in range(count)]
    if kind == "string":
        return _sample_string(schema)
    if kind in ("number", "integer"):
        minimum = schema.get("minimum", schema.get("exclusiveMinimum"))
        base = minimum if isinstance(minimum, int | float) else 0
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            base += 1
        return int(base) if kind == "integer" else float(base)
    if kind == "boolean":
        return True
    return None


def _sample_string(schema: dict[str, Any]) -> str:
    formats = {
        "date": "2024-01-01",
        "date-time": "2024-01-01T00:00:00Z",
        "email": "mock@example.com",
        "uri": "https://example.com/mock",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    text = formats.get(str(schema.get("format")), "mock")
    min_len = schema.get("minLength")
    if isinstance(min_len, int) and len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    return text
