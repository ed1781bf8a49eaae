"""Batch jobs: one sandbox runs a pipeline over many cases, with the same results."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evofarm.campaign.bundle import Campaign
from evofarm.campaign.spec import load_campaign
from evofarm.campaign.worker.work import in_process_evaluator, sandbox_evaluator
from evofarm.evolution.genome import Genome
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.runtime import RunLimits
from evofarm.providers.base import LLMRequest, LLMResponse
from evofarm.providers.mock import ScriptedProvider
from evofarm.sandbox.limits import MIB, SandboxLimits
from evofarm.sandbox.parent.batch import BATCH_SLACK_S, batch_limits, run_pipeline_batch_sandboxed
from evofarm.sandbox.parent.pipeline import run_pipeline_sandboxed
from evofarm.sandbox.wire.outcome import Outcome

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "pipelines" / "campaigns" / "demo.yaml"

SLEEPY = """
workflow:
  name: sleepy
  steps:
    - name: nap
      type: python
      input: "{{inputs.seconds}}"
      code: |
        def run(value):
            import time
            time.sleep(value)
            return value
"""

ASK = """
workflow:
  name: ask
  steps:
    - name: ask
      type: claude
      prompt:
        - type: static
          content: "echo {{inputs.name}}"
"""

HOSTILE = """
workflow:
  name: hostile
  steps:
    - name: go
      type: python
      input: "{{inputs.seconds}}"
      code: |
        def run(value):
            if value == "bomb":
                hoard = []
                while True:
                    hoard.append(bytearray(32 * 1024 * 1024))
            if value == "spin":
                while True:
                    pass
            return value
"""


def _untimed(value: Any) -> Any:
    """``value`` without wall-clock measurements (keys ending in ``_ms``/``_s``)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not (k.endswith(("_ms", "_s", "_at")))}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _demo_campaign() -> tuple[Campaign, Genome]:
    spec = load_campaign(DEMO)
    seed = Genome.from_pipeline(spec.load_seeds()[0])
    campaign = Campaign(
        id="batch-test",
        spec=spec,
        suite=spec.load_suite(),
        seed=1,
        seed_genomes=(seed.id,),
        suite_id="contacts",
        fidelity="1.0",
    )
    return campaign, seed


def test_batch_limits_scale_per_round_and_case() -> None:
    per_case = SandboxLimits(wall_timeout_s=3, cpu_s=4, max_llm_calls=5, workdir_bytes=2 * MIB)
    scaled = batch_limits(per_case, cases=10, concurrency=4)
    assert scaled.wall_timeout_s == 3 * 3 + BATCH_SLACK_S
    assert scaled.cpu_s == 4 * 3
    assert scaled.max_llm_calls == 50
    assert scaled.workdir_bytes == 8 * MIB
    assert scaled.memory_bytes == per_case.memory_bytes
    assert batch_limits(per_case, cases=1, concurrency=8).wall_timeout_s == 3 + BATCH_SLACK_S
    with pytest.raises(ValueError):
        batch_limits(per_case, cases=0, concurrency=1)


def test_batch_traces_equal_per_case_traces_on_the_demo_suite() -> None:
    campaign, seed = _demo_campaign()
    pipeline = seed.to_pipeline()
    cases = [(c.id, dict(c.inputs)) for c in campaign.suite.cases]
    base_dir = campaign.spec.seed_paths[0].parent
    batch = run_pipeline_batch_sandboxed(
        pipeline, cases, llm=None, concurrency=8, base_dir=base_dir, source="seed"
    )
    assert batch.sandbox.outcome is Outcome.OK, batch.sandbox.message
    assert set(batch.cases) == {c for c, _ in cases}
    for case_id, inputs in cases[:6]:  # a sandbox each: keep the count modest
        single = run_pipeline_sandboxed(pipeline, inputs, llm=None, base_dir=base_dir)
        report = batch.cases[case_id]
        assert report.outcome is single.outcome
        assert _untimed(report.value) == _untimed(single.value)


def test_the_evaluation_is_the_in_process_one() -> None:
    campaign, seed = _demo_campaign()
    sandboxed = sandbox_evaluator(8)(campaign, seed)
    in_process = in_process_evaluator(8)(campaign, seed)
    assert sandboxed.outcome == in_process.outcome == "ok"
    assert sandboxed.score == in_process.score
    assert sandboxed.test_rate == in_process.test_rate
    assert [(c.case_id, c.outcome, c.passed_checks) for c in sandboxed.cases] == [
        (c.case_id, c.outcome, c.passed_checks) for c in in_process.cases
    ]


class LatencyProvider:
    """Answers ``echo name-I`` with ``name-I`` after about ``delay_s`` (shorter for
    larger I, so replies come back out of order); counts calls in flight."""

    name = "latency"

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.inner = ScriptedProvider(function=lambda r: r.prompt_text.removeprefix("echo "))
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def complete(self, request: LLMRequest) -> LLMResponse:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        index = int(request.prompt_text.rsplit("-", 1)[-1])
        time.sleep(self.delay_s * (1 - 0.05 * index))
        with self._lock:
            self.in_flight -= 1
        return self.inner.complete(request)


def test_concurrent_llm_calls_are_multiplexed_to_the_right_callers() -> None:
    n, delay = 6, 0.5
    llm = LatencyProvider(delay)
    cases = [(f"c{i}", {"name": f"name-{i}"}) for i in range(n)]
    batch = run_pipeline_batch_sandboxed(load_pipeline_text(ASK), cases, llm=llm, concurrency=n)
    assert batch.sandbox.outcome is Outcome.OK, batch.sandbox.message
    for case_id, inputs in cases:
        report = batch.cases[case_id]
        assert report.outcome is Outcome.OK, report.message
        assert report.value["output"] == inputs["name"]
    assert llm.peak == n  # every call was in flight at once
    assert batch.sandbox.usage.llm_calls == n
    # One latency, not n: serialised calls would take n * delay.
    assert batch.sandbox.wall_ms < (delay * n / 2) * 1000


def test_llm_calls_per_case_are_capped() -> None:
    llm = LatencyProvider(0.0)
    cases = [(f"c{i}", {"name": str(i)}) for i in range(3)]
    batch = run_pipeline_batch_sandboxed(
        load_pipeline_text(ASK),
        cases,
        llm=llm,
        concurrency=3,
        limits=SandboxLimits(max_llm_calls=0),
    )
    assert all(r.outcome is Outcome.CANDIDATE_ERROR for r in batch.cases.values())
    assert all("max_llm_calls" in r.message for r in batch.cases.values())


def test_a_slow_case_fails_alone_with_timeout() -> None:
    cases = [("slow", {"seconds": 30}), *[(f"quick{i}", {"seconds": 0}) for i in range(3)]]
    started = time.monotonic()
    batch = run_pipeline_batch_sandboxed(
        load_pipeline_text(SLEEPY),
        cases,
        llm=None,
        concurrency=4,
        limits=SandboxLimits(wall_timeout_s=1.5),
        run_limits=RunLimits(run_timeout_s=1.5, step_timeout_s=1.5),
    )
    assert time.monotonic() - started < 1.5 + BATCH_SLACK_S + 1
    assert batch.sandbox.outcome is Outcome.OK, batch.sandbox.message
    assert batch.cases["slow"].outcome is Outcome.TIMEOUT
    assert batch.cases["slow"].value["status"] == "failed"  # its trace came back
    for i in range(3):
        assert batch.cases[f"quick{i}"].outcome is Outcome.OK


def test_a_batch_that_dies_fails_every_unreported_case_with_its_outcome() -> None:
    # The sandbox's wall timeout is shorter than the cases' own run timeout:
    # the batch is killed and no case had reported.
    batch = run_pipeline_batch_sandboxed(
        load_pipeline_text(SLEEPY),
        [("a", {"seconds": 30}), ("b", {"seconds": 30})],
        llm=None,
        concurrency=2,
        limits=SandboxLimits(wall_timeout_s=0.5),
        run_limits=RunLimits(run_timeout_s=60, step_timeout_s=60),
    )
    assert batch.sandbox.outcome is Outcome.TIMEOUT
    assert {c: r.outcome for c, r in batch.cases.items()} == {
        "a": Outcome.TIMEOUT,
        "b": Outcome.TIMEOUT,
    }
    assert all("wall-clock timeout" in r.message for r in batch.cases.values())


@pytest.mark.parametrize(
    ("hostile", "outcomes", "reasons"),
    [
        ("bomb", {Outcome.MEMORY_LIMIT}, ("MemoryError",)),
        ("spin", {Outcome.TIMEOUT, Outcome.CPU_LIMIT}, ("run_timeout_s", "CPU limit")),
    ],
)
def test_a_hostile_case_fails_the_evaluation_and_spares_the_worker(
    hostile: str, outcomes: set[Outcome], reasons: tuple[str, ...]
) -> None:
    campaign, seed = _demo_campaign()
    spec = campaign.spec.model_copy(
        update={
            "sandbox": SandboxLimits(wall_timeout_s=2, cpu_s=2, memory_bytes=512 * MIB),
            "fidelity": 0.25,  # 6 cases: one round of 8
        }
    )
    pipeline = load_pipeline_text(HOSTILE.replace("{{inputs.seconds}}", hostile))
    campaign = dataclasses.replace(campaign, spec=spec)
    threads_before = threading.active_count()
    evaluation = sandbox_evaluator(8)(campaign, Genome.from_pipeline(pipeline))
    assert evaluation.outcome in {o.value for o in outcomes}
    assert {c.outcome for c in evaluation.cases} <= {o.value for o in outcomes}
    assert evaluation.cases and evaluation.score < 0.5
    assert any(r in (evaluation.reason or "") for r in reasons), evaluation.reason
    # The worker is unaffected: no thread left behind, and the next
    # evaluation is normal.
    assert threading.active_count() <= threads_before
    assert sandbox_evaluator(8)(campaign, seed).outcome == "ok"


HOLDING = """
workflow:
  name: holding
  steps:
    - name: go
      type: python
      input: "x"
      code: |
        def run(value):
            import time
            held = [bytearray(256 * 1024) for _ in range(8)]  # on this thread's arena
            time.sleep(1.0)  # every case holds its arena at once
            return str(len(held))
"""


def test_threaded_cases_fit_a_memory_limit_that_counts_what_they_use() -> None:
    # Six cases on their threads in one child, all holding memory at once:
    # glibc's per-thread arenas (64 MiB reserved each) would cross a 384 MiB
    # address-space limit by reservation alone, using a few MiB.
    campaign, _ = _demo_campaign()
    spec = campaign.spec.model_copy(
        update={
            "sandbox": SandboxLimits(wall_timeout_s=20, cpu_s=20, memory_bytes=384 * MIB),
            "fidelity": 0.25,
        }
    )
    genome = Genome.from_pipeline(load_pipeline_text(HOLDING))
    evaluation = sandbox_evaluator(8)(dataclasses.replace(campaign, spec=spec), genome)
    assert len(evaluation.cases) >= 6
    assert {c.outcome for c in evaluation.cases} == {"ok"}, evaluation.reason
