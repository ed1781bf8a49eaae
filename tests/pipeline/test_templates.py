"""Templates: pipeline_ex semantics, typing, strictness."""

from __future__ import annotations

from typing import Any

import pytest

from evofarm.errors import TemplateError
from evofarm.pipeline.scope import Scope, StepRecord
from evofarm.pipeline.templates import has_template, render, resolve, to_text


def scope(**changes: Any) -> Scope:
    base: dict[str, Any] = {
        "inputs": {"name": "widget", "count": 3, "mult": "4", "tags": ["a", "b"]},
        "global_vars": {"env": "prod", "limit": 10},
        "variables": {"counter": 7},
        "steps": {
            "prep": StepRecord({"data": {"items": [1, 2, 3]}, "score": 0.9}),
            "text": StepRecord("plain answer"),
            "json_text": StepRecord('{"verdict": "ok", "n": 2}'),
            "skipped": StepRecord(None, "skipped", "Condition not met: x"),
        },
    }
    base.update(changes)
    return Scope(**base)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{inputs.count}}", 3),
        ("  {{ inputs.count }}  ", 3),
        ("{{inputs.tags}}", ["a", "b"]),
        ("{{global_vars.limit}}", 10),
        ("{{steps.prep.result}}", {"data": {"items": [1, 2, 3]}, "score": 0.9}),
        ("{{steps.prep.result.data.items}}", [1, 2, 3]),
        ("{{steps.prep.data.items.1}}", 2),  # falls back under result
        ("{{steps.prep.score}}", 0.9),
        ("{{steps.json_text.verdict}}", "ok"),  # JSON text is walked into
        ("{{steps.text.success}}", True),
        ("{{steps.skipped.skipped}}", True),
        ("{{prep.data.items.length}}", 3),
        ("{{state.counter}}", 7),
        ("{{counter}}", 7),  # bare names: variables
        ("{{name}}", "widget"),  # then inputs
        ("{{env}}", "prod"),  # then global_vars
        ("{{previous_response:prep}}", {"data": {"items": [1, 2, 3]}, "score": 0.9}),
        ("{{previous_response:prep.score}}", 0.9),
        ("{{previous_response:prep:data.items.0}}", 1),
        ("{{multiply(inputs.count, inputs.mult)}}", 12),
        ("{{add(1, 2, 3)}}", 6),
        ("{{subtract(10, inputs.count)}}", 7),
        ("{{divide(12, 4)}}", 3),
        ("{{divide(1, 4)}}", 0.25),
        ("{{max(1, inputs.count, 2)}}", 3),
        ("{{min(steps.prep.data.items)}}", 1),
        ("{{round(2.567, 2)}}", 2.57),
        ("{{round(2.5)}}", 2),
        ("{{floor(2.7)}}", 2),
        ("{{ceil(2.1)}}", 3),
        ("{{inputs.count + 1}}", 4),
        ("{{inputs.count * inputs.mult}}", 12),
        ("{{counter - 10}}", -3),
        ("{{add(inputs.count * 2, 1)}}", 7),
        ("{{'quoted'}}", "quoted"),
        ("{{true}}", True),
        ("{{null}}", None),
    ],
)
def test_whole_expression_keeps_its_type(template: str, expected: Any) -> None:
    assert resolve(template, scope()) == expected


def test_loop_variables() -> None:
    loop = {"file": "a.py", "item": "a.py", "index": 0, "first": True, "last": False}
    s = scope(loop=loop)
    assert resolve("{{loop.item}}", s) == "a.py"
    assert resolve("{{loop.index}}", s) == 0
    assert resolve("{{loop.first}}/{{loop.last}}", s) == "true/false"
    assert resolve("{{file}}", s) == "a.py"  # the iterator name as a bare name
    assert resolve("{{loop.index + 1}}", s) == 1


def test_interpolation_writes_values_as_text() -> None:
    s = scope()
    out = render(
        "n={{inputs.count}} f={{steps.prep.score}} b={{steps.text.success}} "
        "none={{null}} list={{inputs.tags}} obj={{steps.prep.data}}",
        s,
    )
    assert out == 'n=3 f=0.9 b=true none= list=["a", "b"] obj={"items": [1, 2, 3]}'


def test_nested_structures_are_resolved_without_touching_keys() -> None:
    value = {"{{inputs.name}}": ["{{inputs.count}}", {"x": "c={{counter}}"}], "n": 5}
    assert resolve(value, scope()) == {"{{inputs.name}}": [3, {"x": "c=7"}], "n": 5}


@pytest.mark.parametrize(
    "template",
    [
        "{{ timestamp }}",
        "{{inputs.missing}}",
        "{{steps.nope.result}}",
        "{{steps.prep.result.data.nope}}",
        "{{previous_response:nope}}",
        "{{multiply(inputs.missing, 2)}}",
    ],
)
def test_unresolved_reference_stays_literal_by_default(template: str) -> None:
    assert resolve(template, scope()) == template
    assert render(f"before {template} after", scope()) == f"before {template} after"


@pytest.mark.parametrize(
    ("template", "reference"),
    [
        ("{{ timestamp }}", "timestamp"),
        ("x {{inputs.missing}} y", "inputs.missing"),
        ("{{steps.nope.result}}", "steps.nope.result"),
        ("{{previous_response:nope}}", "previous_response:nope"),
        ("{{add(1, inputs.gone)}}", "inputs.gone"),
    ],
)
def test_strict_mode_names_the_reference(template: str, reference: str) -> None:
    with pytest.raises(TemplateError) as info:
        resolve(template, scope(), strict=True)
    assert repr(reference) in str(info.value)


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{{multiply(inputs.name, 2)}}", "not a number"),
        ("{{divide(1, 0)}}", "division by zero"),
        ("{{unknown_fn(1)}}", "unknown function"),
        ("{{1 + 2 + 3}}", "only one arithmetic operator"),
        ("{{add(1}}", "expected"),
        ("{{ }}", "empty expression"),
        ("{{round(1.5, 99)}}", "digits"),
    ],
)
def test_bad_expressions(template: str, words: str) -> None:
    assert resolve(template, scope()) == template  # literal by default
    with pytest.raises(TemplateError, match=words):
        resolve(template, scope(), strict=True)


def test_inserted_values_are_not_rescanned() -> None:
    s = scope(inputs={"evil": "{{inputs.secret}}", "secret": "s3cret"})
    assert render("x {{inputs.evil}}", s) == "x {{inputs.secret}}"
    assert resolve("{{inputs.evil}}", s) == "{{inputs.secret}}"


def test_huge_arithmetic_is_refused_not_rendered() -> None:
    big = "9" * 900
    s = scope(inputs={"a": int(big), "b": int(big)})
    with pytest.raises(TemplateError, match="too large"):
        resolve("{{multiply(inputs.a, inputs.b, inputs.a)}}", s, strict=True)


def test_to_text_and_has_template() -> None:
    assert to_text(None) == ""
    assert to_text(False) == "false"
    assert to_text(1.5) == "1.5"
    assert to_text({"a": [1]}) == '{"a": [1]}'
    assert has_template("a {{b}}") and not has_template("a {b}") and not has_template(3)
