"""Whatever a candidate outputs, running a check gives a verdict and never raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from evofarm.fitness.checks import Check, CheckContext, CheckResult, run_check
from evofarm.fitness.predicates import import_predicates

import_predicates("text")
ADAPTER: TypeAdapter[Any] = TypeAdapter(Check)

CHECKS = [
    ADAPTER.validate_python(spec)
    for spec in [
        {"type": "equals", "value": {"a": 1}},
        {"type": "equals", "value": "x", "normalize": True, "case_insensitive": True},
        {"type": "contains", "value": "x"},
        {"type": "regex", "pattern": r"^\w+\s*=\s*\d+$", "flags": "m"},
        {"type": "json_schema", "schema": {"type": "object", "required": ["a"]}},
        {"type": "numeric", "value": 2.5, "rel_tol": 0.1, "extract": True},
        {"type": "one_of", "values": [1, "one", None]},
        {"type": "custom", "name": "word_count_between", "params": {"min": 1, "max": 3}},
        {"type": "custom", "name": "lines_sorted"},
        {"type": "equals", "value": 1, "path": "output.a.0.b"},
        {"type": "llm_judge", "prompt": "rate {{output}}"},
    ]
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_checks_are_total(output: Any) -> None:
    for check in CHECKS:
        result = run_check(check, {"output": output}, CheckContext())
        assert isinstance(result, CheckResult)
        assert len(result.detail) <= 300
