"""Simplification: dead steps, no-op and repeated idempotent ops removed; nothing else."""

from __future__ import annotations

from typing import Any

from evofarm.evolution.simplify import simplify


def transform(name: str, source: str, *ops: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "transform", "input": source, "operations": list(ops), **extra}


def pipeline(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "p", "steps": list(steps)}


STRIP = {"op": "strip"}
LOWER = {"op": "lower"}


def test_dead_step_is_removed_and_what_it_alone_read_follows() -> None:
    data = pipeline(
        transform("a", "{{inputs.x}}", STRIP),
        transform("dead", "{{steps.a.result}}", LOWER),
        transform("used", "{{inputs.x}}", LOWER),
        {"name": "out", "type": "test_echo", "value": "{{steps.used.result}}"},
    )
    result = simplify(data)
    assert result.removed_steps == ["dead", "a"]
    assert [s["name"] for s in result.data["steps"]] == ["used", "out"]
    # The input is untouched, and simplifying again changes nothing.
    assert len(data["steps"]) == 4
    assert not simplify(result.data).changed


def test_last_step_and_side_effects_are_kept() -> None:
    data = pipeline(
        transform("written", "{{inputs.x}}", LOWER, output_to_file="out.txt"),
        {"name": "var", "type": "set_variable", "variable": "v", "value": "1"},
        transform("last", "{{inputs.x}}", LOWER),
    )
    assert simplify(data).removed_steps == []


def test_reads_in_conditions_and_previous_response_count() -> None:
    data = pipeline(
        transform("a", "{{inputs.x}}", LOWER),
        transform("b", "{{inputs.x}}", LOWER),
        transform("c", "{{inputs.x}}", LOWER),
        {
            "name": "ask",
            "type": "claude",
            "condition": "steps.a.result == 'x'",
            "prompt": [{"type": "previous_response", "step": "b"}],
        },
    )
    assert simplify(data).removed_steps == ["c"]


def test_noop_and_repeated_ops_are_removed() -> None:
    data = pipeline(
        transform(
            "t",
            "{{inputs.x}}",
            STRIP,
            STRIP,
            {"op": "replace", "old": ".", "new": "."},
            {"op": "prefix", "text": ""},
            LOWER,
            LOWER,
            {"op": "slice"},
            {"op": "replace", "old": ".", "new": "-"},
            {"op": "replace", "old": ".", "new": "-"},  # not idempotent in general: kept
            STRIP,  # not adjacent to the first strip: kept
        )
    )
    result = simplify(data)
    ops = result.data["steps"][0]["operations"]
    assert [o["op"] for o in ops] == ["strip", "lower", "replace", "replace", "strip"]
    assert [(r[1], r[2]) for r in result.removed_ops] == [
        (1, "strip"),
        (2, "replace"),
        (3, "prefix"),
        (5, "lower"),
        (6, "slice"),
    ]


def test_a_transform_keeps_one_op() -> None:
    result = simplify(pipeline(transform("only", "{{inputs.x}}", {"op": "slice"})))
    assert result.data["steps"][0]["operations"] == [{"op": "slice"}]
    assert not result.changed
