"""JSON answers: parsing model output and checking it against a schema.

Schemas come in two spellings: JSON Schema (has ``type``, ``properties``,
``$schema``, ``items``, ``enum``, ``anyOf``/``oneOf``/``allOf`` or ``$ref`` at
the top) and the pipeline_ex shorthand used by ``claude_extract`` examples, a
sample-shaped mapping whose leaves name types (``name: string``, ``tags:
array``, ``steps: [{name: string}]``). :func:`to_json_schema` turns the
shorthand into JSON Schema so both are checked the same way, with
:mod:`jsonschema`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import jsonschema
import referencing.exceptions

from evofarm.errors import StepFailed

_JSON_SCHEMA_KEYS: Final = frozenset(
    {"type", "properties", "$schema", "items", "enum", "anyOf", "oneOf", "allOf", "$ref"}
)
_SHORTHAND_TYPES: Final = {
    "string": {"type": "string"},
    "str": {"type": "string"},
    "text": {"type": "string"},
    "integer": {"type": "integer"},
    "int": {"type": "integer"},
    "number": {"type": "number"},
    "float": {"type": "number"},
    "boolean": {"type": "boolean"},
    "bool": {"type": "boolean"},
    "array": {"type": "array"},
    "list": {"type": "array"},
    "object": {"type": "object"},
    "map": {"type": "object"},
}
_FENCE: Final = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n\s*```\s*$", re.DOTALL)
MAX_JSON_CHARS: Final = 1_000_000


def is_json_schema(schema: Any) -> bool:
    """Whether ``schema`` is written as JSON Schema (not the shorthand)."""
    return isinstance(schema, dict) and bool(_JSON_SCHEMA_KEYS & set(schema))


def to_json_schema(schema: Any) -> dict[str, Any]:
    """JSON Schema for ``schema`` (returned as is when it already is one)."""
    if is_json_schema(schema):
        return dict(schema)
    return _shorthand(schema)


def _shorthand(node: Any) -> dict[str, Any]:
    if isinstance(node, dict):
        return {
            "type": "object",
            "properties": {str(k): _shorthand(v) for k, v in node.items()},
            "required": [str(k) for k in node],
        }
    if isinstance(node, list):
        return {"type": "array", "items": _shorthand(node[0])} if node else {"type": "array"}
    if isinstance(node, str):
        return dict(_SHORTHAND_TYPES.get(node.strip().lower(), {"type": "string"}))
    return {}


def parse_json(text: str) -> Any:
    """Parse a model's JSON answer (a surrounding code fence is allowed).

    Raises:
        StepFailed: not JSON, or longer than :data:`MAX_JSON_CHARS`.
    """
    if len(text) > MAX_JSON_CHARS:
        raise StepFailed(f"JSON answer longer than {MAX_JSON_CHARS} characters")
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise StepFailed(f"expected a JSON answer: {exc}; got {text[:80]!r}") from None


def validate(value: Any, schema: dict[str, Any]) -> None:
    """Check ``value`` against JSON Schema ``schema``.

    Raises:
        StepFailed: the value does not match, or the schema itself is invalid.
    """
    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
        error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    except jsonschema.exceptions.SchemaError as exc:
        raise StepFailed(f"invalid JSON schema: {exc.message}") from None
    except (
        jsonschema.exceptions.ValidationError,
        referencing.exceptions.Unresolvable,
        RecursionError,
        ValueError,
        TypeError,
    ) as exc:
        raise StepFailed(f"schema check failed: {type(exc).__name__}: {exc}") from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise StepFailed(f"answer does not match the schema at {where}: {error.message}")
