from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from evofarm.providers.schema_sample import sample_for_schema

SCHEMAS: list[dict[str, Any]] = [
    {"const": 7},
    {"type": "string", "default": "dflt"},
    {"anyOf": [{"type": "integer", "minimum": 5}, {"type": "string"}]},
    {"oneOf": [{"type": "boolean"}]},
    {"type": "number", "exclusiveMinimum": 2},
    {"type": "integer", "exclusiveMinimum": 2},
    {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}, "minItems": 3},
    {"type": "object", "properties": {"u": {"type": "string", "format": "uuid"}}},
    {"type": "string", "format": "email", "minLength": 40},
    {"type": ["string", "null"]},
    {"type": "null"},
    {"properties": {"implicit": {"type": "integer"}}, "required": ["implicit"]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_samples_validate(schema: dict[str, Any]) -> None:
    jsonschema.validate(sample_for_schema(schema), schema)


def test_same_schema_same_value() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "number"}}}}
    assert sample_for_schema(schema) == sample_for_schema(schema) == {"a": [0.0]}


def test_self_nesting_schema_terminates() -> None:
    deep: dict[str, Any] = {"type": "object", "properties": {}}
    node = deep
    for _ in range(50):
        child: dict[str, Any] = {"type": "object", "properties": {}}
        node["properties"]["next"] = child
        node = child
    value = sample_for_schema(deep)
    depth = 0
    while isinstance(value, dict) and "next" in value:
        value = value["next"]
        depth += 1
    assert depth <= 9


def test_non_schema_gives_none() -> None:
    assert sample_for_schema("not a schema") is None
    assert sample_for_schema({"type": "mystery"}) is None
