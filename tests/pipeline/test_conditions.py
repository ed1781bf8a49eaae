"""Conditions: pipeline_ex operators, boolean maps, truthiness and the regex guard."""

from __future__ import annotations

from typing import Any

import pytest

from evofarm.errors import ConditionError
from evofarm.pipeline import conditions
from evofarm.pipeline.scope import Scope, StepRecord


def scope() -> Scope:
    return Scope(
        inputs={"mode": "fast", "n": 5},
        steps={
            "analysis": StepRecord(
                {"score": 8.5, "status": "ok", "issues": ["a", "b", "c"], "note": "has 'x'"}
            ),
            "text": StepRecord("The quick brown fox"),
            "numeric": StepRecord("7"),
            "empty": StepRecord(""),
            "zero": StepRecord(0),
            "skipped": StepRecord(None, "skipped", "Condition not met"),
        },
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (None, True),
        (True, True),
        (False, False),
        ("analysis.score > 8", True),
        ("analysis.score >= 8.5", True),
        ("analysis.score < 8", False),
        ("analysis.score <= 8", False),
        ("analysis.status == 'ok'", True),
        ('analysis.status == "ok"', True),
        ("analysis.status != 'ok'", False),
        ("analysis.issues contains 'b'", True),
        ("analysis.issues contains 'z'", False),
        ("text.result contains 'brown'", True),
        ("analysis contains 'score'", True),
        ("text.result matches '^The\\s+quick'", True),
        ("text.result matches 'slow'", False),
        ("analysis.issues.length == 3", True),
        ("analysis.issues.length between 2 and 4", True),
        ("analysis.score between 9 and 10", False),
        ("numeric.result == 7", True),  # a numeric answer compares as its number
        ("numeric.result > 6", True),
        ("analysis.score * 2 > 16", True),
        ("inputs.mode == 'fast'", True),
        ("mode == 'fast'", True),
        ("analysis.success", True),
        ("skipped.success", False),
        ("skipped.skipped", True),
        ("empty.result", False),
        ("zero.result", True),  # pipeline_ex: 0 is truthy
        ("missing_step.score > 3", False),  # unresolved is null
        ("missing_step.value", False),
        ("not analysis.success", False),
        ("analysis.note contains \"'x'\"", True),
        ("analysis.status == 'a > b'", False),  # operators inside quotes are text
        ({"and": ["analysis.score > 8", "text.result contains 'fox'"]}, True),
        ({"or": ["analysis.score > 9", "inputs.n == 5"]}, True),
        ({"not": "analysis.score > 9"}, True),
        ({"and": [{"or": [False, "inputs.n == 5"]}, {"not": "empty.result"}]}, True),
        (["analysis.score > 8", "inputs.n == 4"], False),
        (["analysis.score > 8", "inputs.n == 5"], True),
    ],
)
def test_evaluate(condition: Any, expected: bool) -> None:
    assert conditions.evaluate(condition, scope()) is expected


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ("", "empty condition"),
        ("== 3", "both sides"),
        ("analysis.score between 1", "LOW and HIGH"),
        ({"xor": []}, "unknown condition operator"),
        ({"and": "x", "or": []}, "exactly one"),
        ({"and": "x"}, "needs a list"),
        ("text.result matches '(unclosed'", "invalid regular expression"),
        ("add(1, 'x') > 1", "cannot evaluate"),
        (3.5, "must be a string"),
    ],
)
def test_malformed_conditions(condition: Any, words: str) -> None:
    with pytest.raises(ConditionError, match=words):
        conditions.evaluate(condition, scope())


def test_catastrophic_regex_is_stopped_by_the_time_limit() -> None:
    s = Scope(steps={"t": StepRecord("a" * 5000 + "!")})
    with pytest.raises(ConditionError, match="took longer"):
        conditions.evaluate(r"t.result matches '(\w+\s?)*$'", s)


def test_match_subject_size_is_capped() -> None:
    s = Scope(steps={"t": StepRecord("a" * (conditions.MAX_MATCH_SUBJECT_CHARS + 1))})
    with pytest.raises(ConditionError, match="cap"):
        conditions.evaluate("t.result matches 'a'", s)


def test_describe() -> None:
    assert conditions.describe({"and": ["a", {"not": "b"}]}) == "(a) and (not (b))"
    assert conditions.describe(["a", "b"]) == "(a) and (b)"


def test_long_chains_of_not_do_not_recurse() -> None:
    chain = "not " * 50_000
    assert conditions.evaluate(chain + "analysis.success", scope()) is True  # even count
    assert conditions.evaluate("not " + chain + "analysis.success", scope()) is False
    conditions.check(chain + "analysis.success")


def test_check_finds_malformed_operands_without_data() -> None:
    conditions.check({"and": ["a.b * 2 > 3", {"not": "x between 1 and 2"}]})
    with pytest.raises(ConditionError, match="only one arithmetic operator"):
        conditions.check({"or": ["true", "a + b + c > 1"]})  # every branch is checked
