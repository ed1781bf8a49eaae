"""Control and data steps: variables, loops, data_transform, transform, python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .exec_helpers import run_text


def test_set_variable_and_references(tmp_path: Path) -> None:
    trace = run_text(
        """
name: v
steps:
  - name: init
    type: set_variable
    variables: {counter: 1, label: "run-{{inputs.id}}"}
  - name: bump
    type: set_variable
    variable: counter
    value: "{{state.counter + 1}}"
  - name: show
    type: test_echo
    value: "{{label}}:{{counter}}:{{previous_response:init:label}}"
""",
        tmp_path,
        {"id": 7},
    )
    assert trace.steps["init"].result == {"counter": 1, "label": "run-7"}
    assert trace.steps["bump"].result == {"counter": 2}
    assert trace.output == "run-7:2:run-7"


def test_for_loop_frames_and_nested_loops(tmp_path: Path) -> None:
    trace = run_text(
        """
name: loops
steps:
  - name: rows
    type: test_echo
    value: [[1, 2], [3]]
  - name: outer
    type: for_loop
    iterator: row
    data_source: "previous_response:rows"
    steps:
      - name: inner
        type: for_loop
        iterator: cell
        data_source: "{{loop.row}}"
        steps:
          - name: cell_info
            type: test_echo
            value: "{{loop.cell}}@{{loop.parent.index}}.{{loop.index}}
              first={{loop.first}} last={{loop.last}}"
""",
        tmp_path,
    )
    assert trace.status == "completed", trace.error
    outer = trace.output
    assert outer["total_items"] == 2 and outer["completed_items"] == 2
    first_inner = outer["iterations"][0]["results"]["inner"]
    cells = [it["results"]["cell_info"] for it in first_inner["iterations"]]
    assert cells == ["1@0.0 first=true last=false", "2@0.1 first=false last=true"]


def test_for_loop_break_on_error_false_continues(tmp_path: Path) -> None:
    trace = run_text(
        """
name: l
steps:
  - name: each
    type: for_loop
    iterator: f
    data_source: [a.txt, b.txt]
    break_on_error: false
    steps:
      - name: read
        type: claude
        prompt:
          - type: file
            path: "{{loop.f}}"
""",
        tmp_path,
    )
    assert trace.status == "completed"
    assert trace.output["success"] is False and trace.output["completed_items"] == 0
    assert len(trace.steps["each"].errors) == 2


def test_for_loop_needs_a_list(tmp_path: Path) -> None:
    trace = run_text(
        "name: l\nsteps:\n  - name: n\n    type: test_echo\n    value: 5\n"
        "  - name: each\n    type: for_loop\n    iterator: x\n    data_source: n\n"
        "    steps:\n      - name: e\n        type: test_echo\n        value: 1\n",
        tmp_path,
    )
    assert trace.status == "failed" and "must resolve to a list" in (trace.error or "")


def test_while_loop_runs_until_the_condition_fails(tmp_path: Path) -> None:
    trace = run_text(
        """
name: w
steps:
  - name: init
    type: set_variable
    variable: n
    value: 0
  - name: count
    type: while_loop
    condition: "state.n < 3"
    steps:
      - name: inc
        type: set_variable
        variable: n
        value: "{{n + 1}}"
  - name: done
    type: test_echo
    value: "{{n}}"
""",
        tmp_path,
    )
    assert trace.steps["count"].result == {"success": True, "iterations": 3, "condition_met": False}
    assert trace.output == 3


ORDERS: list[dict[str, Any]] = [
    {"id": 1, "user": "u1", "total": 150, "status": "completed"},
    {"id": 2, "user": "u2", "total": 50, "status": "completed"},
    {"id": 3, "user": "u1", "total": 300, "status": "pending"},
    {"id": 4, "user": "u2", "total": 200, "status": "completed"},
]
USERS = [{"id": "u1", "tier": "gold"}, {"id": "u2", "tier": "silver"}]


def test_data_transform_operations(tmp_path: Path) -> None:
    trace = run_text(
        """
name: dt
steps:
  - name: data
    type: test_echo
    value: "{{inputs.data}}"
  - name: big_done
    type: data_transform
    input_source: "previous_response:data:orders"
    operations:
      - {operation: filter, field: status, condition: "status == 'completed'"}
      - {operation: filter, field: total, condition: "total > 100"}
      - {operation: sort, field: total, order: desc}
      - {operation: join, left_field: user, right_source: "previous_response:data.users",
         join_key: id}
    output_field: enriched
  - name: by_tier
    type: data_transform
    input_source: enriched
    operations:
      - {operation: group_by, field: tier}
  - name: avg
    type: data_transform
    input_source: "previous_response:data:orders"
    operations:
      - {operation: aggregate, field: total, function: average, group_by: user}
  - name: mapped
    type: data_transform
    input_source: "previous_response:data:orders"
    operations:
      - {operation: map, field: status, mapping: {completed: done}}
      - {operation: map, field: double, expression: "total * 2"}
      - {operation: unique, field: status}
    output_format: count
""",
        tmp_path,
        {"data": {"orders": ORDERS, "users": USERS}},
    )
    assert trace.status == "completed", trace.error
    enriched = trace.steps["big_done"].result
    assert [o["id"] for o in enriched] == [4, 1]
    assert enriched[0]["tier"] == "silver" and enriched[1]["tier"] == "gold"
    assert trace.steps["by_tier"].result == {"silver": [enriched[0]], "gold": [enriched[1]]}
    assert trace.steps["avg"].result == {"u1": 225, "u2": 125}
    assert trace.steps["mapped"].result == 2


def test_data_transform_errors_name_the_operation(tmp_path: Path) -> None:
    trace = run_text(
        """
name: dt
steps:
  - name: t
    type: data_transform
    input_source: [{v: a}]
    operations:
      - {operation: aggregate, field: v, function: sum}
""",
        tmp_path,
    )
    assert trace.status == "failed"
    error = trace.error or ""
    assert "operation 1 (aggregate)" in error and "not a number" in error


def test_transform_step_uses_the_operation_library(tmp_path: Path) -> None:
    trace = run_text(
        """
name: tr
steps:
  - name: raw
    type: test_echo
    value: "  Answer: 42  "
  - name: clean
    type: transform
    input: "{{steps.raw.result}}"
    operations:
      - {op: strip}
      - {op: regex_extract, pattern: "(\\\\d+)", group: 1}
""",
        tmp_path,
    )
    assert trace.status == "completed", trace.error
    assert trace.output == "42"


PYTHON = """
name: py
steps:
  - name: code
    type: python
    input: "{{inputs.n}}"
    code: |
      def run(value):
          return value * 2
"""


def test_python_step_without_runner_fails_clearly(tmp_path: Path) -> None:
    trace = run_text(PYTHON, tmp_path, {"n": 2})
    assert trace.status == "failed" and "sandboxed runner" in (trace.error or "")


def test_python_step_calls_the_runtime_runner(tmp_path: Path) -> None:
    seen: list[tuple[str, Any]] = []

    def runner(code: str, value: Any) -> Any:
        seen.append((code, value))
        return value * 2

    trace = run_text(PYTHON, tmp_path, {"n": 21}, python_runner=runner)
    assert trace.output == 42 and seen[0][1] == 21 and "def run" in seen[0][0]
