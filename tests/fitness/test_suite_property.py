"""Random suite data never raises anything but SuiteError (or loads)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evofarm.errors import SuiteError
from evofarm.fitness.suite import TaskSuite, load_suite_text, suite_from_data

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
keys = st.sampled_from(
    [
        "name",
        "cases",
        "checks",
        "type",
        "value",
        "id",
        "inputs",
        "budgets",
        "required_checks",
        "pattern",
        "schema",
        "path",
        "required",
        "weight",
        "tokens_per_case",
        "equals",
        "regex",
        "numeric",
        "one_of",
        "values",
        "custom",
        "x",
    ]
)
data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, data, max_size=5))
def test_random_data_loads_or_raises_suite_error(obj: dict[str, Any]) -> None:
    try:
        suite = suite_from_data(obj, source="random.yaml", locate=None)
    except SuiteError as exc:
        assert exc.location.file == "random.yaml"
    else:
        assert isinstance(suite, TaskSuite)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(keys, data, max_size=4), max_size=4))
def test_random_jsonl_loads_or_raises_suite_error(lines: list[dict[str, Any]]) -> None:
    text = "\n".join(json.dumps(line) for line in lines)
    try:
        load_suite_text(text, source="random.jsonl", fmt="jsonl")
    except SuiteError as exc:
        assert exc.location.file == "random.jsonl"
