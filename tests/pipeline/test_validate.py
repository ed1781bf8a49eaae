"""Validation beyond the schema: references, names, functions and limits."""

from __future__ import annotations

import pytest

from evofarm.errors import PipelineValidationError
from evofarm.pipeline.loader import check_pipeline_text, load_pipeline_text
from evofarm.pipeline.references import condition_references, template_references
from evofarm.pipeline.validate import PipelineLimits, find_problems, validate_pipeline


def messages(text: str, limits: PipelineLimits | None = None) -> list[str]:
    return [str(p) for p in check_pipeline_text(text, "v.yaml", limits=limits).problems]


def test_template_reference_to_a_later_step() -> None:
    found = messages(
        """
name: t
steps:
  - name: a
    type: test_echo
    value: "{{steps.b.result}}"
  - name: b
    type: test_echo
    value: 1
"""
    )
    assert found == [
        "v.yaml:6:12: steps[0].value: step 'a' refers to step 'b', which runs after it "
        "(a step can only use earlier steps)"
    ]


def test_each_kind_of_reference_to_a_missing_step_is_found() -> None:
    found = messages(
        """
name: t
steps:
  - name: a
    type: gemini
    prompt:
      - type: previous_response
        step: ghost1
      - type: static
        content: "{{ multiply(steps.ghost2.result, 2) }} and {{previous_response:ghost3}}"
  - name: b
    type: data_transform
    input_source: "previous_response:ghost4.items"
    operations:
      - {operation: join, right_source: "previous_response:ghost5", join_key: id}
  - name: c
    type: claude
    condition: "ghost6.score >= 8"
    prompt: x
  - name: d
    type: for_loop
    iterator: item
    data_source: "previous_response:ghost7:rows"
    steps:
      - {name: e, type: test_echo, value: "{{loop.item}}"}
  - name: f
    type: pipeline_executor
    pipeline_source: ghost8
    suite: s
"""
    )
    for index in range(1, 9):
        assert any(f"step 'ghost{index}', which does not exist" in m for m in found), index
    assert len(found) == 8


def test_valid_references_pass() -> None:
    pipeline = load_pipeline_text(
        """
name: t
inputs: {threshold: 3}
global_vars: {mode: fast}
steps:
  - name: data
    type: set_variable
    variable: rows
    value: [1, 2]
  - name: shaped
    type: data_transform
    input_source: "previous_response:data"
    operations: [{operation: sort, field: x}]
    output_field: sorted_rows
  - name: use
    type: claude
    condition:
      and:
        - "data.length > 0"
        - "steps.shaped.result != null"
        - "inputs.threshold > 2"
        - "rows.length > 1"
        - "global_vars.mode == 'fast'"
        - "sorted_rows.length > 0"
        - not: "threshold.value == 'a.b'"
    prompt: "{{steps.data.result}} {{previous_response:sorted_rows}} {{inputs.x}} {{bare}}"
  - name: loop
    type: while_loop
    condition: "check.ok != true"
    max_iterations: 3
    steps:
      - name: improve
        type: claude
        prompt: [{type: previous_response, step: check}, {type: static, content: "{{loop.index}}"}]
      - name: check
        type: test_echo
        value: "{{steps.improve.result}}"
  - name: after
    type: test_echo
    value: "{{steps.check.result}}"
"""
    )
    assert find_problems(pipeline) == []


def test_self_reference_is_named() -> None:
    found = messages("name: t\nsteps:\n  - {name: a, type: test_echo, value: '{{steps.a.x}}'}\n")
    assert len(found) == 1 and "refers to itself" in found[0]


def test_inline_nested_pipeline_is_checked_with_its_own_names() -> None:
    found = messages(
        """
name: t
steps:
  - name: outer
    type: test_echo
    value: 1
  - name: nested
    type: pipeline
    pipeline:
      name: inner
      steps:
        - {name: outer, type: test_echo, value: "{{steps.outer.result}}"}
        - {name: x, type: test_echo, value: "{{steps.nothing.result}}"}
"""
    )
    assert len(found) == 1
    assert "steps[1].pipeline.steps[1].value" in found[0]
    assert "'nothing'" in found[0]


def test_duplicate_names_across_loop_bodies() -> None:
    found = messages(
        """
name: t
steps:
  - {name: a, type: test_echo, value: 1}
  - name: loop
    type: for_loop
    iterator: i
    data_source: [1]
    steps:
      - {name: a, type: test_echo, value: 2}
"""
    )
    assert found == [
        "v.yaml:10:16: steps[1].steps[0].name: duplicate step name 'a' (first used at steps[0])"
    ]


def test_undefined_gemini_function() -> None:
    found = messages(
        """
name: t
gemini_functions:
  known: {description: d, parameters: {type: object}}
steps:
  - {name: a, type: gemini, prompt: x, functions: [known, unknown]}
"""
    )
    assert len(found) == 1 and "gemini function 'unknown'" in found[0]
    assert "steps[0].functions[1]" in found[0]


def test_limits() -> None:
    many = "name: t\nsteps:\n" + "".join(
        f"  - {{name: s{i}, type: test_echo, value: {i}}}\n" for i in range(6)
    )
    assert any("max_steps" in m for m in messages(many, PipelineLimits(max_steps=5)))
    assert messages(many, PipelineLimits(max_steps=6)) == []

    deep = (
        "name: t\nsteps:\n  - name: l1\n    type: for_loop\n    iterator: i\n    data_source: [1]\n"
        "    steps:\n      - name: l2\n        type: for_loop\n        iterator: j\n"
        "        data_source: [1]\n        steps:\n"
        "          - {name: e, type: test_echo, value: 1}\n"
    )
    assert any("max_depth" in m for m in messages(deep, PipelineLimits(max_depth=1)))
    assert messages(deep, PipelineLimits(max_depth=2)) == []

    prompt = "name: t\nsteps:\n  - {name: a, type: claude, prompt: '" + "x" * 50 + "'}\n"
    assert any(
        "max_prompt_chars" in m for m in messages(prompt, PipelineLimits(max_prompt_chars=49))
    )

    code = "name: t\nsteps:\n  - {name: a, type: python, code: 'def run(v): return v'}\n"
    assert any("max_code_chars" in m for m in messages(code, PipelineLimits(max_code_chars=5)))

    ops = (
        "name: t\nsteps:\n"
        "  - {name: a, type: transform, input: x, operations: [{op: lower}, {op: upper}]}\n"
    )
    assert any("max_operations" in m for m in messages(ops, PipelineLimits(max_operations=1)))


def test_validate_pipeline_raises_the_first_problem() -> None:
    pipeline = load_pipeline_text(
        "name: t\nsteps:\n  - {name: a, type: test_echo, value: '{{steps.b.x}} {{steps.c.x}}'}\n",
        validate=False,
    )
    with pytest.raises(PipelineValidationError, match="'b'") as caught:
        validate_pipeline(pipeline)
    assert caught.value.location.key == "steps[0].value"
    assert caught.value.location.line is None


def test_reference_extractors() -> None:
    assert template_references("{{steps.a.b}} {{ add(steps.c.x, 1) }} {{x.steps.d}}") == {"a", "c"}
    assert template_references("previous_response:gen:rows") == {"gen"}
    assert template_references("text previous_response:gen") == set()
    assert condition_references("a.x > 3 and 'q.r' == b.y", set()) == {"a", "b"}
    assert condition_references({"or": ["inputs.a == 1", ["s.ok"]]}, set()) == {"s"}
    assert condition_references("rating > 4.0", set()) == set()
    assert condition_references("var.x", {"var"}) == set()


def test_for_loop_break_condition_may_use_body_steps() -> None:
    text = """
name: t
steps:
  - name: loop
    type: for_loop
    iterator: item
    data_source: [1, 2]
    break_condition: "check.done == true"
    continue_condition: "steps.ghost.x == 1"
    steps:
      - {name: check, type: test_echo, value: {done: true}}
"""
    found = messages(text)
    assert len(found) == 1
    assert "steps[0].continue_condition" in found[0] and "'ghost'" in found[0]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('"a.result >>> 3"', "cannot evaluate '>> 3'"),
        ('"a.result > "', "needs operands on both sides"),
        ('"nope(a.result) > 1"', "unknown function 'nope'"),
        ('"a.result + 1 + 2 > 3"', "only one arithmetic operator"),
        ('"a.result between 1"', "'between' needs 'LOW and HIGH'"),
        ("{xor: [a.result]}", "unknown condition operator 'xor'"),
        ('{or: ["a.result", "a.result ==="]}', "cannot evaluate"),
        ('["a.result", {and: "a.result"}]', "'and' needs a list"),
        ('"{{steps.a.result}} == 1"', "write 'steps.a.result == 1' instead"),
    ],
)
def test_malformed_conditions_are_load_errors(condition: str, expected: str) -> None:
    found = messages(
        "name: t\nsteps:\n  - {name: a, type: test_echo, value: 1}\n"
        f"  - name: b\n    type: test_echo\n    value: 1\n    condition: {condition}\n"
    )
    assert len(found) == 1 and found[0].startswith("v.yaml:7:16: steps[1].condition: step 'b'")
    assert "malformed condition" in found[0] and expected in found[0], found


@pytest.mark.parametrize(
    "condition",
    [
        '"a.result * 2 > 10"',
        '"multiply(a.result, 2) between 1 and 5"',
        '"not a.result"',
        "\"a.result matches '^x+$'\"",
        '{and: ["a.result != null", {or: ["a.result contains 1", {not: "a.length > 2"}]}]}',
        '"previous_response:a == 1"',
        "true",
    ],
)
def test_well_formed_conditions_pass_the_check(condition: str) -> None:
    found = messages(
        "name: t\nsteps:\n  - {name: a, type: test_echo, value: 1}\n"
        f"  - name: b\n    type: test_echo\n    value: 1\n    condition: {condition}\n"
    )
    assert found == []
