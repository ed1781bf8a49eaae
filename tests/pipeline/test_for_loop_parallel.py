"""for_loop's parallel, max_parallel, batch_size and break options."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from evofarm.pipeline.bounded import Outcome, run_bounded
from evofarm.pipeline.runtime import RunLimits
from evofarm.providers.base import LLMRequest
from evofarm.providers.mock import ScriptedProvider

from .exec_helpers import run_text


class LatencyProbe:
    """Answers ``done N`` after a delay that shrinks with N (so later items finish
    first) and measures how many calls were in flight at once."""

    def __init__(
        self, delay_s: float = 0.02, items: int = 8, fast: frozenset[int] = frozenset()
    ) -> None:
        self.delay_s = delay_s
        self.items = items
        self.fast = fast  # items answered at once instead
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.finished: list[int] = []

    def __call__(self, request: LLMRequest) -> str:
        number = int(request.prompt_text.split()[-1])
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        if number not in self.fast:
            time.sleep(self.delay_s * (self.items - number))
        with self._lock:
            self.active -= 1
            self.finished.append(number)
        return f"done {number}"


def loop_yaml(options: str, items: int = 8, body: str = "") -> str:
    return f"""
name: par
steps:
  - name: each
    type: for_loop
    iterator: n
    data_source: {list(range(items))}
{options}
    steps:
      - name: ask
        type: claude
        prompt: "item {{{{loop.n}}}}"
{body}"""


def run_probe(tmp_path: Path, options: str, probe: LatencyProbe, **kwargs: Any) -> Any:
    provider = ScriptedProvider(function=probe)
    return run_text(loop_yaml(options, probe.items), tmp_path, provider=provider, **kwargs)


def test_parallel_results_keep_input_order_and_honour_max_parallel(tmp_path: Path) -> None:
    probe = LatencyProbe()
    trace = run_probe(tmp_path, "    parallel: true\n    max_parallel: 3", probe)
    assert trace.status == "completed", trace.error
    out = trace.output
    assert [it["index"] for it in out["iterations"]] == list(range(8))
    assert [it["results"]["ask"] for it in out["iterations"]] == [f"done {i}" for i in range(8)]
    assert out["parallel"] is True and out["max_parallel"] == 3
    assert probe.peak == 3  # concurrency reached the bound and never crossed it
    assert probe.finished != sorted(probe.finished)  # they really finished out of order
    # After the loop the last iteration's result is visible by name, as sequentially.
    assert trace.steps["each"].llm_calls == 8


def test_sequential_loop_runs_one_at_a_time(tmp_path: Path) -> None:
    probe = LatencyProbe(delay_s=0.002)
    trace = run_probe(tmp_path, "    max_parallel: 4", probe)
    assert trace.status == "completed"
    assert probe.peak == 1 and probe.finished == list(range(8))
    assert "parallel" not in trace.output


def test_max_parallel_is_capped_at_ten(tmp_path: Path) -> None:
    probe = LatencyProbe(delay_s=0.01, items=14)
    trace = run_probe(tmp_path, "    parallel: true\n    max_parallel: 50", probe)
    assert trace.output["max_parallel"] == 10 and probe.peak <= 10


def test_batches_finish_before_the_next_starts(tmp_path: Path) -> None:
    probe = LatencyProbe(delay_s=0.02)
    options = "    parallel: true\n    max_parallel: 8\n    batch_size: 3"
    trace = run_probe(tmp_path, options, probe)
    assert trace.output["batches_processed"] == 3
    assert probe.peak == 3
    # Every item of a batch finished before any item of a later batch.
    batch_of = [probe.finished.index(i) // 3 for i in range(8)]
    assert batch_of == sorted(batch_of)


def test_step_limit_is_counted_exactly_across_threads(tmp_path: Path) -> None:
    probe = LatencyProbe(delay_s=0.001, items=8)
    limits = RunLimits(max_steps=6)  # the loop itself + 5 body steps
    trace = run_probe(tmp_path, "    parallel: true\n    max_parallel: 4", probe, limits=limits)
    assert trace.status == "failed" and trace.limit == "max_steps"
    assert trace.error_step == "each"
    assert len(probe.finished) == 5  # exactly the steps the limit allowed ran


def test_limit_fails_even_with_break_on_error_false(tmp_path: Path) -> None:
    probe = LatencyProbe(delay_s=0.001, items=4)
    options = "    parallel: true\n    break_on_error: false"
    trace = run_probe(tmp_path, options, probe, limits=RunLimits(max_steps=3))
    assert trace.status == "failed" and trace.limit == "max_steps"


FAILING_BODY = """      - name: read
        type: claude
        prompt:
          - type: file
            path: "missing-{{loop.n}}.txt"
"""


def test_first_failing_iteration_by_index_is_reported(tmp_path: Path) -> None:
    # Item 0 is the slowest, so later failures finish first; the error must
    # still be item 0's, and no iteration after the stop may start.
    text = loop_yaml("    parallel: true\n    max_parallel: 3", 6, FAILING_BODY)
    for _ in range(3):
        probe = LatencyProbe(delay_s=0.05, items=6)  # 50 ms between finishing times
        trace = run_text(text, tmp_path, provider=ScriptedProvider(function=probe))
        assert trace.status == "failed" and trace.error_step == "each"
        assert "missing-0.txt" in (trace.error or ""), trace.error
        assert probe.finished[0] != 0  # a later item failed first
        assert len(probe.finished) == 3  # nothing started after the first failure


def test_parallel_break_on_error_false_records_failures_in_order(tmp_path: Path) -> None:
    probe = LatencyProbe(delay_s=0.002, items=5)
    text = loop_yaml("    parallel: true\n    break_on_error: false", 5, FAILING_BODY)
    trace = run_text(text, tmp_path, provider=ScriptedProvider(function=probe))
    assert trace.status == "completed"
    out = trace.output
    assert [it["index"] for it in out["iterations"]] == list(range(5))
    assert out["success"] is False and out["completed_items"] == 0
    assert len(trace.steps["each"].errors) == 5


def test_break_condition_stops_the_loop(tmp_path: Path) -> None:
    for options in (
        "    break_condition: \"ask == 'done 2'\"",
        "    parallel: true\n    max_parallel: 2\n    break_condition: \"ask == 'done 2'\"",
    ):
        # Item 2 (the breaking one) answers at once and the others take
        # 0.05-0.3s, so items 4 and 5 cannot have started before it finished.
        probe = LatencyProbe(delay_s=0.05, items=6, fast=frozenset({2}))
        trace = run_probe(tmp_path, options, probe)
        assert trace.status == "completed", trace.error
        assert [it["index"] for it in trace.output["iterations"]] == [0, 1, 2]
        assert 4 not in probe.finished and 5 not in probe.finished


def test_parallel_iterations_are_isolated_then_merged_in_order(tmp_path: Path) -> None:
    trace = run_text(
        """
name: iso
steps:
  - name: init
    type: set_variable
    variables: {flag: before, seen: none}
  - name: each
    type: for_loop
    iterator: n
    parallel: true
    max_parallel: 4
    data_source: [1, 2, 3, 4]
    steps:
      - name: peek
        type: test_echo
        value: "{{seen}}"
      - name: first_only
        type: set_variable
        condition: "loop.index == 0"
        variable: flag
        value: changed
      - name: mark
        type: set_variable
        variables: {last: "{{loop.n}}", seen: "{{loop.n}}"}
  - name: after
    type: test_echo
    value: "{{flag}}:{{last}}:{{steps.mark.result.last}}"
""",
        tmp_path,
    )
    assert trace.status == "completed", trace.error
    # No iteration saw another's variables; each started from the loop's start.
    peeks = [it["results"]["peek"] for it in trace.steps["each"].result["iterations"]]
    assert peeks == ["none"] * 4
    # Iteration 0's write survives the later iterations' untouched copies.
    assert trace.output == "changed:4:4"


def test_run_bounded_never_starts_past_a_stop() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def job(index: int) -> int:
        with lock:
            started.append(index)
        if index == 2:
            raise ValueError("boom")
        time.sleep(0.001)
        return index

    def stop(outcome: Outcome[int]) -> bool:
        return outcome.error is not None

    outcomes = run_bounded(20, job, max_workers=3, stop=stop)
    first_missing = next(i for i, o in enumerate(outcomes) if o is None)
    assert all(o is not None for o in outcomes[:first_missing])
    assert all(o is None for o in outcomes[first_missing:])
    assert max(started) < 2 + 3  # at most the workers' in-flight jobs after the stop
    failed = outcomes[2]
    assert failed is not None and isinstance(failed.error, ValueError)
