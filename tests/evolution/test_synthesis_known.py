"""synthesize(known=...): remembered operation lists as starting points of the search."""

from __future__ import annotations

import random
from typing import Any

from evofarm.evolution.synthesis import run_op, synthesize

PAIRS = [
    ("The Quick, Brown Fox!", "the-quick-brown-fox"),
    ("Hello World", "hello-world"),
    ("Evolving Pipelines, Fast", "evolving-pipelines-fast"),
]
#: Four operations: one more than the search goes deep on its own.
SLUG: list[dict[str, Any]] = [
    {"op": "lower"},
    {"op": "replace", "old": ",", "new": ""},
    {"op": "replace", "old": "!", "new": ""},
    {"op": "replace", "old": " ", "new": "-"},
]


def _fitted(ops: list[dict[str, Any]]) -> int:
    fitted = 0
    for actual, expected in PAIRS:
        value: Any = actual
        for op in ops:
            value = run_op(value, op)
        fitted += value == expected
    return fitted


def test_a_known_list_that_fits_is_taken_up() -> None:
    # Alone the search finds a three-operation regex rewrite; the known list fits
    # every pair from the start, so nothing the search grows can beat it.
    assert _fitted(SLUG) == len(PAIRS)
    assert synthesize(PAIRS, random.Random(1), known=[[{"op": "upper"}], SLUG]) == SLUG


def test_a_known_prefix_is_extended_by_the_search() -> None:
    prefix = SLUG[:2]  # lower-cased, commas gone: the search adds the rest
    ops = synthesize(PAIRS, random.Random(1), known=[prefix])
    assert ops[: len(prefix)] == prefix and _fitted(ops) == len(PAIRS)


def test_lists_that_do_not_help_leave_the_search_as_it_was() -> None:
    useless: list[list[Any]] = [
        [{"op": "upper"}],  # runs, but fits less than the actuals do
        [{"op": "no_such_op"}],  # fails on every value
        ["not an operation"],  # not an operation at all
        [],
    ]
    for seed in (1, 2, 3):
        alone = synthesize(PAIRS, random.Random(seed))
        assert synthesize(PAIRS, random.Random(seed), known=useless) == alone
