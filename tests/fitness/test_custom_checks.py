"""Custom predicates: registration, allow-listed modules, failures as failed checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import TypeAdapter

from evofarm.fitness import predicates as preds
from evofarm.fitness.checks import Check, CheckContext, run_check
from evofarm.fitness.predicates import (
    PredicateError,
    allow_predicate_package,
    get_predicate,
    import_predicates,
    register_check,
)

ADAPTER: TypeAdapter[Any] = TypeAdapter(Check)


def run(spec: dict[str, Any], output: Any) -> Any:
    return run_check(ADAPTER.validate_python(spec), {"output": output}, CheckContext())


@register_check("test_is_even")
def is_even(value: Any, params: Mapping[str, Any]) -> bool | tuple[bool, str]:
    return int(value) % int(params.get("modulus", 2)) == 0, f"value {value}"


def test_registered_predicate_runs_with_params() -> None:
    assert run({"type": "custom", "name": "test_is_even"}, 4).passed
    assert not run({"type": "custom", "name": "test_is_even"}, 5).passed
    result = run({"type": "custom", "name": "test_is_even", "params": {"modulus": 5}}, 10)
    assert result.passed
    assert result.detail == "value 10"


def test_predicate_that_raises_is_a_failed_check() -> None:
    result = run({"type": "custom", "name": "test_is_even"}, "not a number")
    assert not result.passed
    assert "ValueError" in result.detail


def test_unknown_predicate_at_run_time_is_a_failed_check() -> None:
    result = run({"type": "custom", "name": "never_registered"}, 1)
    assert not result.passed
    assert "never_registered" in result.detail


def test_reregistering_a_name_with_another_function_is_refused() -> None:
    with pytest.raises(PredicateError, match="already registered"):
        register_check("test_is_even")(lambda v, p: True)
    # The same function again is harmless (module re-import).
    register_check("test_is_even")(is_even)
    assert get_predicate("test_is_even") is is_even


def test_builtin_text_module_by_short_name() -> None:
    import_predicates("text")
    assert run({"type": "custom", "name": "non_empty"}, "  x ").passed
    assert not run({"type": "custom", "name": "non_empty"}, "   ").passed
    assert not run({"type": "custom", "name": "non_empty"}, None).passed
    spec = {"type": "custom", "name": "word_count_between", "params": {"min": 2, "max": 3}}
    assert run(spec, "one two three").passed
    assert not run(spec, "one").passed
    assert run({"type": "custom", "name": "lines_sorted"}, "a\nb\nc").passed
    assert not run({"type": "custom", "name": "lines_sorted"}, "b\na").passed


@pytest.mark.parametrize("module", ["os.path", "subprocess.os", "evofarm.fitness.predicatesX.evil"])
def test_modules_outside_allow_list_are_refused(module: str) -> None:
    with pytest.raises(PredicateError, match="not under an allowed package"):
        import_predicates(module)


def test_missing_allowed_module_is_a_clear_error() -> None:
    with pytest.raises(PredicateError, match="cannot import"):
        import_predicates("evofarm.fitness.predicates.no_such_module")


def test_allow_list_can_be_extended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preds, "ALLOWED_PACKAGES", list(preds.ALLOWED_PACKAGES))
    with pytest.raises(PredicateError):
        import_predicates("json.decoder")
    allow_predicate_package("json")
    import_predicates("json.decoder")
