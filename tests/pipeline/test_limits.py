"""Every run limit: a breach fails the run with LimitExceeded naming limit and step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from evofarm.pipeline.runtime import RunLimits
from evofarm.pipeline.schema import TestEchoStep
from evofarm.pipeline.steps.registry import get_step_impl, register_step
from evofarm.pipeline.trace import RunTrace
from evofarm.providers.mock import MockProvider

from .exec_helpers import run_text

LOOP = """
name: loop
steps:
  - name: items
    type: test_echo
    value: [1, 2, 3, 4, 5, 6]
  - name: each
    type: for_loop
    iterator: x
    data_source: items
    steps:
      - name: double
        type: test_echo
        value: "{{multiply(loop.x, 2)}}"
      - name: again
        type: test_echo
        value: "{{steps.double.result}}"
"""


def assert_breach(trace: RunTrace, limit: str, step: str) -> None:
    assert trace.status == "failed", trace
    assert trace.error_type == "LimitExceeded"
    assert trace.limit == limit
    assert trace.error_step == step
    assert trace.steps[step].status == "failed"


def test_within_limits_the_loop_completes(tmp_path: Path) -> None:
    trace = run_text(LOOP, tmp_path)
    assert trace.status == "completed"
    results = [it["results"]["again"] for it in trace.output["iterations"]]
    assert results == [2, 4, 6, 8, 10, 12]


def test_max_steps_counts_steps_inside_loops(tmp_path: Path) -> None:
    # 1 + 1 + 6 * 2 = 14 executions needed.
    assert run_text(LOOP, tmp_path, limits=RunLimits(max_steps=14)).status == "completed"
    trace = run_text(LOOP, tmp_path, limits=RunLimits(max_steps=13))
    assert_breach(trace, "max_steps", "each")
    assert "double" in (trace.error or "") or "again" in (trace.error or "")


def test_max_loop_iterations_for_loop(tmp_path: Path) -> None:
    assert_breach(
        run_text(LOOP, tmp_path, limits=RunLimits(max_loop_iterations=5)),
        "max_loop_iterations",
        "each",
    )


def test_max_loop_iterations_while_loop(tmp_path: Path) -> None:
    text = """
name: w
steps:
  - name: spin
    type: while_loop
    condition: "true"
    max_iterations: 50
    steps:
      - name: tick
        type: test_echo
        value: "{{loop.iteration}}"
"""
    trace = run_text(text, tmp_path, limits=RunLimits(max_loop_iterations=60))
    assert trace.status == "completed"
    assert trace.output["max_iterations_reached"] is True and trace.output["iterations"] == 50
    assert_breach(
        run_text(text, tmp_path, limits=RunLimits(max_loop_iterations=10)),
        "max_loop_iterations",
        "spin",
    )


NESTED = """
name: outer
steps:
  - name: level1
    type: pipeline
    pipeline:
      name: middle
      steps:
        - name: level2
          type: pipeline
          pipeline:
            name: inner
            steps:
              - name: leaf
                type: test_echo
                value: deep
"""


def test_max_depth(tmp_path: Path) -> None:
    ok = run_text(NESTED, tmp_path, limits=RunLimits(max_depth=2))
    assert ok.status == "completed"
    assert ok.output == {"level2": {"leaf": "deep"}}
    assert_breach(run_text(NESTED, tmp_path, limits=RunLimits(max_depth=1)), "max_depth", "level1")


def test_max_output_bytes(tmp_path: Path) -> None:
    text = "name: big\nsteps:\n  - name: blob\n    type: test_echo\n    value: '{{inputs.s}}'\n"
    small = run_text(text, tmp_path, {"s": "x" * 90}, limits=RunLimits(max_output_bytes=100))
    assert small.status == "completed"
    trace = run_text(text, tmp_path, {"s": "x" * 200}, limits=RunLimits(max_output_bytes=100))
    assert_breach(trace, "max_output_bytes", "blob")


SLOW = """
name: slow
steps:
  - name: first
    type: claude
    prompt: one
  - name: second
    type: claude
    prompt: two
  - name: third
    type: claude
    prompt: three
"""


def test_step_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    trace = run_text(
        SLOW,
        tmp_path,
        provider=MockProvider(latency_s=1.0),
        limits=RunLimits(step_timeout_s=0.1),
    )
    assert time.monotonic() - started < 0.8  # reported without waiting for the call
    assert_breach(trace, "step_timeout_s", "first")


def test_run_timeout(tmp_path: Path) -> None:
    trace = run_text(
        SLOW,
        tmp_path,
        provider=MockProvider(latency_s=0.15),
        limits=RunLimits(step_timeout_s=5, run_timeout_s=0.4),
    )
    assert trace.status == "failed" and trace.limit == "run_timeout_s"
    assert trace.steps["first"].status == "completed"
    assert trace.error_step in ("second", "third")


def test_inline_step_overrun_is_reported_when_it_returns(tmp_path: Path) -> None:
    # Bounded local steps run without a thread; an overrun is still a breach.
    original = get_step_impl(TestEchoStep(name="probe", type="test_echo", value=None))

    def slow_echo(step: Any, ctx: Any) -> Any:
        time.sleep(0.15)
        return original(step, ctx)

    register_step("test_echo", slow_echo, replace=True)
    try:
        trace = run_text(
            "name: p\nsteps:\n  - {name: echo, type: test_echo, value: hi}\n",
            tmp_path,
            limits=RunLimits(step_timeout_s=0.05),
        )
    finally:
        register_step("test_echo", original, replace=True)
    assert_breach(trace, "step_timeout_s", "echo")
