"""Held-out splits: ``split: {validation, seed}`` or explicit ``validation:`` cases."""

from __future__ import annotations

import pytest

from evofarm.errors import SuiteError
from evofarm.evolution.examples import examples_of
from evofarm.fitness.suite import load_suite_text


def cases(n: int) -> str:
    return "".join(
        f"  - {{id: c{i:02d}, inputs: {{x: 'in{i}'}}, "
        f"checks: [{{type: equals, value: 'out{i}'}}]}}\n"
        for i in range(n)
    )


BASE = "name: t\ncases:\n" + cases(10)


def test_split_holds_out_a_seeded_share_without_overlap() -> None:
    suite = load_suite_text(BASE + "split: {validation: 0.3, seed: 4}\n")
    held = suite.held_out_ids()
    assert len(held) == 3
    training, validation = suite.training(), suite.held_out()
    assert validation is not None
    assert {c.id for c in validation.cases} == set(held)
    assert {c.id for c in training.cases} == {c.id for c in suite.cases} - set(held)
    # Evaluations are cached by suite id: the two splits never share one.
    assert len({suite.id, training.id, validation.id}) == 3
    # Same seed, same split; the split depends on ids, not on the file's order.
    reordered = "name: t\ncases:\n" + "".join(reversed(cases(10).splitlines(keepends=True)))
    again = load_suite_text(reordered + "split: {validation: 0.3, seed: 4}\n")
    assert again.held_out_ids() == held
    other = load_suite_text(BASE + "split: {validation: 0.3, seed: 5}\n")
    assert other.held_out_ids() != held


def test_explicit_validation_cases() -> None:
    suite = load_suite_text(
        BASE + "validation:\n  - {id: v1, inputs: {x: a}, checks: [{type: equals, value: A}]}\n"
    )
    assert suite.held_out_ids() == ["v1"]
    assert len(suite.training().cases) == 10
    held = suite.held_out()
    assert held is not None and [c.id for c in held.cases] == ["v1"]


def test_no_split_keeps_the_suite_and_its_id() -> None:
    suite = load_suite_text(BASE)
    assert suite.training() is suite
    assert suite.held_out() is None and suite.held_out_ids() == []


def test_training_examples_never_hold_held_out_expected_outputs() -> None:
    suite = load_suite_text(BASE + "split: {validation: 0.3, seed: 4}\n")
    held = set(suite.held_out_ids())
    expected_held = {f"out{int(i[1:])}" for i in held}
    examples = examples_of(suite.training())
    assert len(examples) == 7
    assert not expected_held & {e.expected for e in examples}


@pytest.mark.parametrize(
    ("extra", "line", "key", "words"),
    [
        ("split: {validation: 1.5}\n", 13, "split.validation", "less than 1"),
        ("split: {validation: 0.01}\n", 13, "split.validation", "no validation case"),
        ("split: {validation: 0.99}\n", 13, "split.validation", "no training case"),
        ("split: {validation: 0.3, sed: 1}\n", 13, "split.sed", "unknown key"),
        (
            "split: {validation: 0.3}\nvalidation:\n"
            "  - {id: v, checks: [{type: equals, value: a}]}\n",
            15,
            "validation",
            "not both",
        ),
        (
            "validation:\n  - {id: c01, checks: [{type: equals, value: a}]}\n",
            14,
            "validation[0].id",
            "duplicate case id",
        ),
    ],
)
def test_bad_splits_are_located(extra: str, line: int, key: str, words: str) -> None:
    with pytest.raises(SuiteError) as info:
        load_suite_text(BASE + extra, source="s.yaml")
    error = info.value
    assert error.location.file == "s.yaml"
    assert error.location.line == line
    assert error.location.key == key
    assert words in str(error)
