"""Every check type: passing, failing and the awkward inputs candidates produce."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from evofarm.errors import ProviderUnavailable
from evofarm.fitness.checks import Check, CheckContext, CheckResult, run_check
from evofarm.providers.base import LLMRequest, LLMResponse

ADAPTER: TypeAdapter[Any] = TypeAdapter(Check)


def check(spec: dict[str, Any]) -> Any:
    return ADAPTER.validate_python(spec)


def verdict(spec: dict[str, Any], output: Any, ctx: CheckContext | None = None) -> CheckResult:
    view = {"output": output, "steps": {"s1": {"result": {"answer": 4, "items": ["x", "y"]}}}}
    return run_check(check(spec), view, ctx or CheckContext())


@pytest.mark.parametrize(
    ("spec", "output", "passed"),
    [
        ({"type": "equals", "value": "Hello"}, "Hello", True),
        ({"type": "equals", "value": "Hello"}, "hello", False),
        ({"type": "equals", "value": "Hello", "case_insensitive": True}, "hELLo", True),
        ({"type": "equals", "value": "a b c", "normalize": True}, "  a\n b   c ", True),
        ({"type": "equals", "value": "a b c"}, "  a\n b   c ", False),
        ({"type": "equals", "value": 42}, "42", True),
        ({"type": "equals", "value": 42}, 42.0, True),
        ({"type": "equals", "value": 1}, True, False),
        ({"type": "equals", "value": {"a": [1, 2]}}, '{"a": [1, 2]}', True),
        ({"type": "equals", "value": {"a": [1, 2]}}, "not json", False),
        ({"type": "equals", "value": "42"}, 42, True),
    ],
)
def test_equals(spec: dict[str, Any], output: Any, passed: bool) -> None:
    assert verdict(spec, output).passed is passed


@pytest.mark.parametrize(
    ("spec", "output", "passed"),
    [
        ({"type": "contains", "value": "cat"}, "the cat sat", True),
        ({"type": "contains", "value": "dog"}, "the cat sat", False),
        ({"type": "contains", "value": "CAT", "case_insensitive": True}, "the cat", True),
        ({"type": "contains", "value": "a b", "normalize": True}, "xa   b", True),
        ({"type": "contains", "value": "y"}, ["x", "y"], True),
        ({"type": "contains", "value": "yy"}, ["x", "yyy"], False),
        ({"type": "contains", "value": "3"}, 123, True),
    ],
)
def test_contains(spec: dict[str, Any], output: Any, passed: bool) -> None:
    assert verdict(spec, output).passed is passed


@pytest.mark.parametrize(
    ("spec", "output", "passed"),
    [
        ({"type": "regex", "pattern": r"\d{3}-\d{4}"}, "call 555-1234 now", True),
        ({"type": "regex", "pattern": r"\d{3}-\d{4}", "mode": "fullmatch"}, "call 555-1234", False),
        ({"type": "regex", "pattern": r"\d{3}-\d{4}", "mode": "fullmatch"}, "555-1234", True),
        ({"type": "regex", "pattern": "^yes$", "flags": "im"}, "no\nYES\n", True),
        ({"type": "regex", "pattern": "^yes$"}, "no\nYES\n", False),
    ],
)
def test_regex(spec: dict[str, Any], output: Any, passed: bool) -> None:
    assert verdict(spec, output).passed is passed


@pytest.mark.parametrize("pattern", ["(a+)+$", "(x*)*y", "(a|ab)*c", "(", "a" * 2000])
def test_regex_refuses_dangerous_or_invalid_patterns(pattern: str) -> None:
    with pytest.raises(ValidationError):
        check({"type": "regex", "pattern": pattern})


def test_regex_refuses_huge_subject_instead_of_matching() -> None:
    result = verdict({"type": "regex", "pattern": "z"}, "a" * 200_000 + "z")
    assert not result.passed
    assert "limit" in result.detail


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name"],
}


@pytest.mark.parametrize(
    ("output", "passed", "detail_has"),
    [
        ({"name": "Ada", "age": 36}, True, ""),
        ('{"name": "Ada"}', True, ""),
        ({"age": 3}, False, "name"),
        ({"name": "Ada", "age": -1}, False, "age"),
        ("{not json", False, "not JSON"),
    ],
)
def test_json_schema(output: Any, passed: bool, detail_has: str) -> None:
    result = verdict({"type": "json_schema", "schema": SCHEMA}, output)
    assert result.passed is passed
    assert detail_has in result.detail


def test_json_schema_rejects_invalid_schema_at_load() -> None:
    with pytest.raises(ValidationError, match="invalid JSON schema"):
        check({"type": "json_schema", "schema": {"type": "no-such-type"}})


@pytest.mark.parametrize(
    ("spec", "output", "passed"),
    [
        ({"type": "numeric", "value": 3.0}, 3, True),
        ({"type": "numeric", "value": 3.0}, 3.0001, False),
        ({"type": "numeric", "value": 3.0, "abs_tol": 0.01}, "3.005", True),
        ({"type": "numeric", "value": 100.0, "rel_tol": 0.05}, 104, True),
        ({"type": "numeric", "value": 100.0, "rel_tol": 0.05}, 106, False),
        ({"type": "numeric", "value": 7.0}, "The answer is 7.", False),
        ({"type": "numeric", "value": 7.0, "extract": True}, "The answer is 7.", True),
        ({"type": "numeric", "value": -2.5, "extract": True}, "t=-2.5e0 s", True),
        ({"type": "numeric", "value": 1.0}, True, False),
        ({"type": "numeric", "value": 1.0}, None, False),
        ({"type": "numeric", "value": 1.0}, "nan", False),
    ],
)
def test_numeric(spec: dict[str, Any], output: Any, passed: bool) -> None:
    assert verdict(spec, output).passed is passed


def test_numeric_tolerances_must_be_non_negative() -> None:
    with pytest.raises(ValidationError):
        check({"type": "numeric", "value": 1, "abs_tol": -1})


@pytest.mark.parametrize(
    ("spec", "output", "passed"),
    [
        ({"type": "one_of", "values": ["red", "green"]}, "green", True),
        ({"type": "one_of", "values": ["red", "green"]}, "blue", False),
        ({"type": "one_of", "values": ["red"], "case_insensitive": True}, "RED", True),
        ({"type": "one_of", "values": [1, 2]}, "2", True),
    ],
)
def test_one_of(spec: dict[str, Any], output: Any, passed: bool) -> None:
    assert verdict(spec, output).passed is passed


def test_one_of_needs_values() -> None:
    with pytest.raises(ValidationError):
        check({"type": "one_of", "values": []})


def test_path_selects_step_result_and_json_inside_text() -> None:
    assert verdict({"type": "equals", "value": 4, "path": "steps.s1.result.answer"}, "").passed
    assert verdict({"type": "equals", "value": "y", "path": "steps.s1.result.items.1"}, "").passed
    assert verdict({"type": "equals", "value": 4, "path": "output.answer"}, '{"answer": 4}').passed


def test_missing_path_is_a_failed_check_not_an_exception() -> None:
    result = verdict({"type": "equals", "value": 4, "path": "steps.nope.result"}, "")
    assert not result.passed
    assert "nope" in result.detail
    assert not verdict({"type": "equals", "value": 1, "path": "output.a"}, "plain text").passed


def test_bad_path_syntax_refused_at_load() -> None:
    with pytest.raises(ValidationError):
        check({"type": "equals", "value": 1, "path": "steps..x"})


def test_unknown_type_and_unknown_keys_refused() -> None:
    with pytest.raises(ValidationError):
        check({"type": "fuzzy", "value": 1})
    with pytest.raises(ValidationError):
        check({"type": "equals", "value": 1, "tolerance": 2})


def test_result_carries_label_and_required() -> None:
    result = verdict({"type": "equals", "value": 1, "required": True, "label": "one"}, 1)
    assert (result.label, result.required, result.passed) == ("one", True, True)
    assert (
        verdict({"type": "contains", "value": "a", "path": "output"}, "a").label
        == "contains@output"
    )


class FakeJudge:
    name = "fake-judge"

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if isinstance(self.reply, Exception):
            raise self.reply
        return LLMResponse(text=self.reply, model=request.model, provider=self.name)


JUDGE_SPEC = {
    "type": "llm_judge",
    "prompt": "Question: {{inputs.q}}\nAnswer: {{output}}\nIdeal: {{expected}}\nRate 0-10.",
    "expected": "Paris",
    "min_score": 0.7,
}


def test_llm_judge_renders_prompt_and_parses_score() -> None:
    judge = FakeJudge("Reasoning...\nSCORE: 8")
    ctx = CheckContext(inputs={"q": "Capital of France?"}, judge=judge, judge_model="judge-m")
    result = verdict(JUDGE_SPEC, "Paris", ctx)
    assert result.passed
    assert result.score == pytest.approx(0.8)
    sent = judge.requests[0]
    assert sent.model == "judge-m"
    assert (
        sent.prompt_text == "Question: Capital of France?\nAnswer: Paris\nIdeal: Paris\nRate 0-10."
    )


@pytest.mark.parametrize(
    ("reply", "passed", "score"),
    [
        ("score=6.5", False, 0.65),
        ("I give it 10", True, 1.0),
        ("no idea", False, None),
        ("SCORE: 11", False, None),
    ],
)
def test_llm_judge_thresholds_and_unusable_replies(
    reply: str, passed: bool, score: float | None
) -> None:
    result = verdict(JUDGE_SPEC, "x", CheckContext(judge=FakeJudge(reply)))
    assert result.passed is passed
    assert result.score == (pytest.approx(score) if score is not None else None)


def test_llm_judge_without_provider_fails_clearly() -> None:
    result = verdict(JUDGE_SPEC, "Paris")
    assert not result.passed
    assert "no judge provider" in result.detail


def test_llm_judge_output_cannot_inject_placeholders() -> None:
    judge = FakeJudge("SCORE: 1")
    verdict(JUDGE_SPEC, "{{expected}}", CheckContext(inputs={"q": "?"}, judge=judge))
    assert "Answer: {{expected}}" in judge.requests[0].prompt_text


def test_llm_judge_provider_outage_propagates() -> None:
    with pytest.raises(ProviderUnavailable):
        verdict(JUDGE_SPEC, "x", CheckContext(judge=FakeJudge(ProviderUnavailable("down"))))
