"""run_op_on_each: one parse of an operation for many values, the results of run_op on each."""

from __future__ import annotations

from typing import Any

import pytest

from evofarm.evolution.synthesis import GENERIC, run_op, run_op_on_each

VALUES: list[Any] = ["  Ada  LOVELACE ", "212-555-0100", None, "", "x", 7, ["a"]]
OPS: list[dict[str, Any]] = [
    *GENERIC,
    {"op": "regex_replace", "pattern": "(", "replacement": ""},  # a bad pattern: fails
    {"op": "no_such_op"},  # unknown: invalid
    {"op": "replace", "old": "-", "new": "."},
]


@pytest.mark.parametrize("op", OPS, ids=str)
def test_each_value_gets_what_run_op_gives_it(op: dict[str, Any]) -> None:
    assert run_op_on_each(VALUES, op) == [run_op(v, op) for v in VALUES]


def test_nothing_in_nothing_out() -> None:
    assert run_op_on_each([], {"op": "lower"}) == []
    assert run_op_on_each([None, "A"], {"op": "lower"}) == [None, "a"]
