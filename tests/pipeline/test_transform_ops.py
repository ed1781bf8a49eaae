"""The transform operation library: each operation, its errors and its guards."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from evofarm.errors import StepFailed
from evofarm.pipeline import regex_guard
from evofarm.pipeline.regex_guard import UnsafePattern, compile_guarded
from evofarm.pipeline.transform_ops import (
    MAX_TEXT_CHARS,
    OP_NAMES,
    OP_TYPES,
    TransformError,
    TransformOp,
    apply_operations,
    parse_json_path,
)

OPS = TypeAdapter(list[TransformOp])


def run(value: Any, *ops: dict[str, Any]) -> Any:
    return apply_operations(value, OPS.validate_python(list(ops)))


def test_library_has_every_required_operation() -> None:
    required = {
        "lower",
        "upper",
        "title",
        "strip",
        "split",
        "regex_extract",
        "regex_replace",
        "replace",
        "slice",
        "pad",
        "prefix",
        "suffix",
        "concat",
        "format",
        "json_parse",
        "json_path",
        "strip_code_fences",
        "default",
    }
    assert required <= set(OP_NAMES)
    assert set(OP_TYPES) == set(OP_NAMES)


@pytest.mark.parametrize(
    ("value", "ops", "expected"),
    [
        ("MiXeD", [{"op": "lower"}], "mixed"),
        ("MiXeD", [{"op": "upper"}], "MIXED"),
        ("hello world", [{"op": "title"}], "Hello World"),
        ("  x  ", [{"op": "strip"}], "x"),
        ("--x--", [{"op": "strip", "chars": "-"}], "x"),
        ("a b  c", [{"op": "split"}], ["a", "b", "c"]),
        ("a,b,c", [{"op": "split", "separator": ",", "index": -1}], "c"),
        ("a,b,c", [{"op": "split", "separator": ",", "maxsplit": 1}], ["a", "b,c"]),
        ("id=42;", [{"op": "regex_extract", "pattern": r"id=(\d+)", "group": 1}], "42"),
        ("x", [{"op": "regex_extract", "pattern": r"\d+"}], None),
        ("a1b22", [{"op": "regex_extract", "pattern": r"\d+", "all": True}], ["1", "22"]),
        (
            "A1",
            [{"op": "regex_extract", "pattern": "a(?P<n>\\d)", "group": "n", "flags": "i"}],
            "1",
        ),
        ("a1b2", [{"op": "regex_replace", "pattern": r"(\d)", "replacement": r"<\1>"}], "a<1>b<2>"),
        ("aaa", [{"op": "replace", "old": "a", "new": "b", "count": 2}], "bba"),
        ("abcdef", [{"op": "slice", "start": 1, "end": -1}], "bcde"),
        ([1, 2, 3], [{"op": "slice", "end": 2}], [1, 2]),
        (7, [{"op": "pad", "width": 3, "fill": "0"}], "007"),
        ("ab", [{"op": "pad", "width": 4, "side": "right", "fill": "."}], "ab.."),
        ("ab", [{"op": "pad", "width": 4, "side": "both"}], " ab "),
        ("b", [{"op": "prefix", "text": "a"}, {"op": "suffix", "text": "c"}], "abc"),
        (["a", "b"], [{"op": "concat", "separator": "-", "values": ["c"]}], "a-b-c"),
        ("a", [{"op": "concat", "values": [1, None, True]}], "a1true"),
        ("x", [{"op": "format", "template": "<{}> {value} {{lit}}"}], "<x> x {lit}"),
        ({"n": 1, "m": "z"}, [{"op": "format", "template": "{n}/{m}"}], "1/z"),
        ('{"a": [1, {"b": 2}]}', [{"op": "json_parse"}, {"op": "json_path", "path": "a[1].b"}], 2),
        ({"a": {"b c": 1}}, [{"op": "json_path", "path": "$.a['b c']"}], 1),
        ({"a": 1}, [{"op": "json_path", "path": "b", "optional": True}], None),
        ('Here:\n```json\n{"x": 1}\n```\nbye', [{"op": "strip_code_fences"}], '{"x": 1}'),
        ("  plain  ", [{"op": "strip_code_fences"}], "plain"),
        (None, [{"op": "default", "value": "none"}], "none"),
        ("", [{"op": "default", "value": 0}], 0),
        ("kept", [{"op": "default", "value": 0}], "kept"),
        (True, [{"op": "upper"}], "TRUE"),
    ],
)
def test_operations(value: Any, ops: list[dict[str, Any]], expected: Any) -> None:
    assert run(value, *ops) == expected


def test_chaining_cleans_llm_output() -> None:
    raw = 'Sure! Here it is:\n```json\n{"answer": "  Paris "}\n```'
    result = run(
        raw,
        {"op": "strip_code_fences"},
        {"op": "json_parse"},
        {"op": "json_path", "path": "answer"},
        {"op": "strip"},
        {"op": "upper"},
    )
    assert result == "PARIS"


@pytest.mark.parametrize(
    ("value", "op", "words"),
    [
        ({"a": 1}, {"op": "lower"}, "expects text, got dict"),
        ("a,b", {"op": "split", "separator": ",", "index": 5}, "out of range"),
        ("nope", {"op": "json_parse"}, "not valid JSON"),
        ({"a": 1}, {"op": "json_path", "path": "a.b"}, "not found"),
        ("x", {"op": "format", "template": "{missing}"}, "no key 'missing'"),
        ("x", {"op": "regex_extract", "pattern": "(x)", "group": 3}, "no group"),
        ("x", {"op": "regex_replace", "pattern": "(x)", "replacement": r"\9"}, "bad replacement"),
    ],
)
def test_errors_are_step_failures_naming_the_operation(
    value: Any, op: dict[str, Any], words: str
) -> None:
    with pytest.raises(TransformError) as caught:
        run(value, {"op": "strip"} if isinstance(value, str) else {"op": "default", "value": 0}, op)
    assert isinstance(caught.value, StepFailed)
    assert "operation 2" in str(caught.value)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    "op",
    [
        {"op": "regex_extract", "pattern": "(a+)+$"},
        {"op": "regex_extract", "pattern": "(a|ab)*c"},
        {"op": "regex_extract", "pattern": r"(\w+\s?)*$"},
        {"op": "regex_extract", "pattern": r"(a)\1"},
        {"op": "regex_extract", "pattern": "(?:a{2,5})*"},
        {"op": "regex_extract", "pattern": "(unclosed"},
        {"op": "regex_extract", "pattern": "a" * 501},
        {"op": "regex_extract", "pattern": "a", "flags": "q"},
        {"op": "pad", "width": 10**6},
        {"op": "pad", "width": 3, "fill": "ab"},
        {"op": "format", "template": "a { b"},
        {"op": "json_path", "path": "a..b"},
        {"op": "lower", "extra": 1},
        {"op": "no_such_op"},
        {"op": "replace", "old": "", "new": "x"},
    ],
)
def test_bad_parameters_are_refused_at_load_time(op: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OPS.validate_python([op])


def test_safe_patterns_compile_once() -> None:
    compile_guarded.cache_clear()
    first = compile_guarded(r"\d+(?:\.\d+)?", "")
    assert compile_guarded(r"\d+(?:\.\d+)?", "") is first
    assert compile_guarded.cache_info().hits == 1
    for pattern in [r"^\s*(\w+)\s*=\s*(.*)$", "[ab]*c", "(?:foo|bar)baz", "(a+)b(c+)"]:
        compile_guarded(pattern, "")


def test_unsafe_pattern_message() -> None:
    with pytest.raises(UnsafePattern, match="nested quantifiers"):
        compile_guarded("(x+)+y", "")


def test_regex_input_cap_bounds_polynomial_patterns() -> None:
    big = "a" * (regex_guard.MAX_REGEX_INPUT_CHARS + 1)
    with pytest.raises(TransformError, match="regex limit"):
        run(big, {"op": "regex_extract", "pattern": r"\w+\s*="})
    started = time.perf_counter()
    run(big[:2000], {"op": "regex_extract", "pattern": r"\w+\s*="})
    assert time.perf_counter() - started < 2


def test_output_size_caps() -> None:
    with pytest.raises(TransformError, match="longer than"):
        run("a" * 1000, {"op": "replace", "old": "a", "new": "b" * 2000})
    with pytest.raises(TransformError, match="longer than"):
        run(["x" * (MAX_TEXT_CHARS // 2 + 1)] * 2, {"op": "concat"})


def test_json_path_parser() -> None:
    assert parse_json_path("$.a.b[0]['c d']") == ["a", "b", 0, "c d"]
    assert parse_json_path("[-1]") == [-1]
    with pytest.raises(ValueError):
        parse_json_path(".a")


_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-1000, 1000),
        st.floats(allow_nan=False),
        st.text(max_size=30),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
_ops = st.one_of(
    st.sampled_from(
        [
            {"op": name}
            for name in ("lower", "upper", "title", "strip", "json_parse", "strip_code_fences")
        ]
    ),
    st.builds(
        lambda s, i: {"op": "split", "separator": s, "index": i},
        st.text(min_size=1, max_size=2),
        st.none() | st.integers(-3, 3),
    ),
    st.builds(
        lambda p: {"op": "regex_extract", "pattern": p},
        st.sampled_from([r"\d+", r"(\w+)@(\w+)", "[a-c]+", "^x"]),
    ),
    st.builds(
        lambda p, r: {"op": "regex_replace", "pattern": p, "replacement": r},
        st.sampled_from([r"\s+", "a", "[0-9]"]),
        st.text(alphabet="xy-", max_size=3),
    ),
    st.builds(
        lambda a, b: {"op": "slice", "start": a, "end": b},
        st.none() | st.integers(-5, 5),
        st.none() | st.integers(-5, 5),
    ),
    st.builds(lambda w: {"op": "pad", "width": w}, st.integers(0, 20)),
    st.builds(
        lambda t: {"op": "format", "template": t}, st.sampled_from(["{}", "[{value}]", "{k}"])
    ),
    st.builds(lambda p: {"op": "json_path", "path": p}, st.sampled_from(["a", "a[0]", "$.b.c"])),
    st.builds(lambda v: {"op": "default", "value": v}, _json),
    st.builds(lambda v: {"op": "concat", "values": v}, st.lists(st.text(max_size=3), max_size=2)),
)


@settings(max_examples=200, deadline=None)
@given(_json, st.lists(_ops, min_size=1, max_size=4))
def test_random_chains_only_raise_transform_errors(value: Any, ops: list[dict[str, Any]]) -> None:
    try:
        run(value, *ops)
    except TransformError as exc:
        assert exc.message.startswith("operation ")


def test_huge_integers_are_a_transform_error() -> None:
    with pytest.raises(TransformError, match="too large"):
        run(10**5000, {"op": "lower"})
