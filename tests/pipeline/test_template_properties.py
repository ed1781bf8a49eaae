"""Property tests: templates and conditions never raise anything but evofarm errors."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from evofarm.errors import ConditionError, FarmError, TemplateError
from evofarm.pipeline import conditions
from evofarm.pipeline.scope import Scope, StepRecord
from evofarm.pipeline.templates import resolve

from .strategies import json_values as shared_json_values

_ATOMS = ["inputs.n", "inputs.s", "steps.a.result", "steps.a.x.y", "loop.item", "n", "a.length"]
_FUNCS = ["multiply", "add", "subtract", "divide", "max", "min", "round", "floor", "ceil", "nope"]

json_values = shared_json_values(int_bound=10**30, non_finite=True, key_size=5, max_leaves=12)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    operand = st.one_of(
        st.sampled_from(_ATOMS),
        st.integers(min_value=-(10**6), max_value=10**6).map(str),
        st.text(alphabet="0123456789.-eE", min_size=1, max_size=8),
        st.text(max_size=6).map(lambda t: f"'{t}'"),
    )
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(operand)
    if kind == 1:
        op = draw(st.sampled_from(["+", "-", "*", "/", "+ 1 +"]))
        return f"{draw(operand)} {op} {draw(operand)}"
    if kind == 2:
        args = ", ".join(draw(st.lists(operand, max_size=3)))
        return f"{draw(st.sampled_from(_FUNCS))}({args})"
    return draw(st.text(max_size=30))


@st.composite
def templates(draw: st.DrawFn) -> str:
    pieces = draw(
        st.lists(
            st.one_of(
                st.text(max_size=10),
                expressions().map(lambda e: "{{" + e + "}}"),
                st.sampled_from(["{{", "}}", "{", "}", "{{{", "}}}"]),
            ),
            max_size=6,
        )
    )
    return "".join(pieces)


def _scope(value: Any, other: Any) -> Scope:
    return Scope(
        inputs={"n": value, "s": other},
        variables={"n": other},
        steps={"a": StepRecord(value)},
        loop={"item": other, "index": 0},
    )


@settings(max_examples=150, deadline=None)
@given(templates(), json_values, json_values, st.booleans())
@example("x {{inputs.n}} {{steps.a.x}}", {"x": float("nan")}, [float("inf")], False)
def test_templates_raise_only_template_errors(
    template: str, value: Any, other: Any, strict: bool
) -> None:
    try:
        resolve({"k": [template, template]}, _scope(value, other), strict=strict)
    except TemplateError:
        assert strict or len(template) > 1000  # non-strict only fails on size caps


@settings(max_examples=100, deadline=None)
@given(templates(), json_values)
def test_non_strict_resolution_is_identity_without_templates(text: str, value: Any) -> None:
    plain = text.replace("{{", "").replace("}}", "")
    if "{{" not in plain:
        assert resolve(plain, _scope(value, value)) == plain


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        expressions(),
        st.tuples(
            expressions(),
            st.sampled_from(["==", "!=", ">", "<", ">=", "<=", "contains", "matches"]),
            expressions(),
        ).map(" ".join),
        st.tuples(expressions(), expressions(), expressions()).map(
            lambda t: f"{t[0]} between {t[1]} and {t[2]}"
        ),
        st.dictionaries(st.sampled_from(["and", "or", "not", "x"]), st.just(["n"]), max_size=2),
        st.lists(st.sampled_from(["n", "inputs.s", "not n"]), max_size=3),
    ),
    json_values,
    json_values,
)
def test_conditions_raise_only_condition_errors(condition: Any, value: Any, other: Any) -> None:
    try:
        result = conditions.evaluate(condition, _scope(value, other))
    except ConditionError:
        return
    except FarmError as exc:  # any other evofarm error is a wrong classification
        raise AssertionError(f"unexpected {type(exc).__name__}: {exc}") from exc
    assert isinstance(result, bool)


@settings(max_examples=40, deadline=None)
@given(st.lists(templates(), min_size=1, max_size=4), json_values, st.booleans())
def test_runs_of_templated_steps_always_return_a_trace(
    values: list[str], value: Any, strict: bool
) -> None:
    import tempfile  # noqa: PLC0415 - hypothesis and tmp_path do not mix
    from pathlib import Path  # noqa: PLC0415

    from evofarm.pipeline.executor import run_pipeline  # noqa: PLC0415
    from evofarm.pipeline.loader import pipeline_from_data  # noqa: PLC0415

    from .exec_helpers import make_runtime  # noqa: PLC0415

    steps = [
        {"name": f"s{i}", "type": "test_echo", "value": text, "condition": "n == n"}
        for i, text in enumerate(values)
    ]
    pipeline = pipeline_from_data({"name": "prop", "steps": steps}, validate=False)
    with tempfile.TemporaryDirectory() as tmp:
        runtime = make_runtime(Path(tmp), strict=strict)
        trace = run_pipeline(pipeline, {"n": value, "s": value}, runtime=runtime)
    assert trace.status == "completed" or strict, trace.error
    if trace.status == "failed":
        assert trace.error_type == "TemplateError"
