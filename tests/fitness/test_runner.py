"""evaluate_pipeline with scripted case runners: subsets, ordering, failures, efficiency."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from evofarm.errors import (
    LimitExceeded,
    ProviderConfigError,
    ProviderUnavailable,
    SandboxError,
    StepFailed,
)
from evofarm.fitness.runner import CaseFailed, evaluate_pipeline, select_cases
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import TaskSuite, load_suite_text
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.schema import Pipeline
from evofarm.providers.base import LLMRequest, LLMResponse

PIPELINE = load_pipeline_text(
    "name: upper\nsteps:\n  - name: out\n    type: test_echo\n    value: '{{inputs.text}}'\n"
)


def make_suite(n: int, *, budgets: str = "", extra: str = "") -> TaskSuite:
    cases = "".join(
        f"  - id: case-{i:02d}\n    inputs: {{text: w{i}}}\n"
        f"    checks:\n      - {{type: equals, value: W{i}, required: true}}\n"
        f"      - {{type: contains, value: W}}\n"
        for i in range(n)
    )
    return load_suite_text(f"name: s\n{budgets}{extra}cases:\n{cases}")


def trace(output: Any, *, tokens: int = 10, ms: float = 5.0, **extra: Any) -> dict[str, Any]:
    return {
        "status": "completed",
        "output": output,
        "steps": {"out": {"result": output, "status": "completed", "retries": 0, "errors": []}},
        "usage": {
            "input_tokens": tokens // 2,
            "output_tokens": tokens - tokens // 2,
            "duration_ms": ms,
        },
        **extra,
    }


def upper_runner(pipeline: Pipeline, case: Any) -> dict[str, Any]:
    return trace(str(case.inputs["text"]).upper())


def test_perfect_candidate_scores_one() -> None:
    ev = evaluate_pipeline(PIPELINE, make_suite(4), case_runner=upper_runner, genome_id="g1")
    assert ev.score == pytest.approx(1.0)
    assert (ev.tests_passed, ev.tests_total, ev.outcome) == (8, 8, "ok")
    assert ev.genome_id == "g1" and ev.fidelity == 1.0
    assert [c.case_id for c in ev.cases] == [f"case-{i:02d}" for i in range(4)]
    assert ev.cases[0].output_excerpt == "W0"
    assert ev.tokens == 40 and ev.time_ms == pytest.approx(20.0)


def test_partial_candidate_by_hand() -> None:
    def lower_half(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        text = str(case.inputs["text"])
        # cases 0, 1 right; 2, 3 output "Wx" (contains passes, equals fails)
        return trace(text.upper() if case.id < "case-02" else "Wx")

    ev = evaluate_pipeline(PIPELINE, make_suite(4), case_runner=lower_half)
    assert ev.test_rate == pytest.approx(0.75)  # (1 + 1 + .5 + .5) / 4
    assert ev.gates == pytest.approx(0.5)
    assert ev.score == pytest.approx(0.75 * 0.5 + 0.5 * 0.25 + 1.0 * 0.25)


def test_efficiency_against_budgets() -> None:
    suite = make_suite(2, budgets="budgets: {tokens_per_case: 50, time_ms_per_case: 10}\n")

    def heavy(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        return trace(str(case.inputs["text"]).upper(), tokens=100, ms=5.0)

    ev = evaluate_pipeline(PIPELINE, suite, case_runner=heavy)
    assert ev.efficiency == pytest.approx((0.5 + 1.0) / 2)
    assert ev.score == pytest.approx(0.5 + 0.25 + 0.75 * 0.25)
    assert ev.dimensions["token_efficiency"] == pytest.approx(0.5)
    assert ev.dimensions["execution_speed"] == pytest.approx(1.0)


def test_fidelity_subset_is_deterministic_nested_and_order_free() -> None:
    suite = make_suite(20)
    shuffled = list(suite.cases)
    random.Random(7).shuffle(shuffled)
    other = suite.model_copy(update={"cases": shuffled})
    quarter = [c.id for c in select_cases(suite, 0.25)]
    assert len(quarter) == 5
    assert quarter == sorted(quarter)
    assert quarter == [c.id for c in select_cases(other, 0.25)]
    half = {c.id for c in select_cases(suite, 0.5)}
    assert len(half) == 10 and set(quarter) <= half
    assert len(select_cases(suite, 0.001)) == 1
    assert len(select_cases(suite, 1.0)) == 20
    for bad in (0.0, -0.5, 1.01):
        with pytest.raises(ValueError):
            select_cases(suite, bad)


def test_low_fidelity_evaluation_runs_only_the_subset() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def recording(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        with lock:
            seen.append(case.id)
        return upper_runner(pipeline, case)

    suite = make_suite(8)
    ev = evaluate_pipeline(PIPELINE, suite, case_runner=recording, fidelity=0.5)
    assert sorted(seen) == [c.id for c in select_cases(suite, 0.5)] == [c.case_id for c in ev.cases]
    assert ev.fidelity == 0.5


def test_concurrent_cases_keep_case_id_order_and_same_score() -> None:
    suite = make_suite(8)
    finished: list[str] = []
    lock = threading.Lock()

    def slow_first(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        index = int(case.id.split("-")[1])
        time.sleep(0.002 * (8 - index))  # later ids finish first
        with lock:
            finished.append(case.id)
        text = str(case.inputs["text"])
        return trace(text.upper() if index % 3 else "nope", ms=float(index))

    parallel = evaluate_pipeline(PIPELINE, suite, case_runner=slow_first, max_workers=4)
    sequential = evaluate_pipeline(PIPELINE, suite, case_runner=slow_first, max_workers=1)
    assert finished[:8] != sorted(finished[:8])  # they really did finish out of order
    assert [c.case_id for c in parallel.cases] == sorted(c.id for c in suite.cases)
    assert parallel == sequential


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (StepFailed("bad json", step="out"), "candidate_error"),
        (LimitExceeded("too many steps", limit="max_steps", step="out"), "limit_exceeded"),
        (CaseFailed("timeout", "wall time 30s exceeded"), "timeout"),
        (CaseFailed("memory_limit", "512 MB"), "memory_limit"),
        (RuntimeError("executor bug"), "crashed"),
    ],
)
def test_candidate_faults_are_scored_not_raised(exc: Exception, outcome: str) -> None:
    def flaky(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        if case.id == "case-01":
            raise exc
        return upper_runner(pipeline, case)

    ev = evaluate_pipeline(PIPELINE, make_suite(2), case_runner=flaky)
    failed = ev.cases[1]
    assert failed.outcome == outcome
    assert failed.reason and str(exc)[:10] in failed.reason
    assert (failed.passed_checks, failed.total_checks, failed.efficiency) == (0, 2, 0.0)
    assert all("run failed" in c.detail for c in failed.checks)
    assert ev.outcome == "ok"
    assert ev.score == pytest.approx(0.5 * 0.5 + 0.5 * 0.25 + 0.5 * 0.25)


def test_every_case_failing_gives_failure_outcome() -> None:
    def boom(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        raise CaseFailed("forbidden", "socket() blocked", trace={"usage": {"input_tokens": 3}})

    ev = evaluate_pipeline(PIPELINE, make_suite(3), case_runner=boom)
    assert ev.outcome == "forbidden"
    assert ev.reason and "socket() blocked" in ev.reason
    assert ev.score == 0.0
    assert ev.tokens == 9  # partial traces still count


def test_failed_trace_status_is_a_candidate_error() -> None:
    def failing(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        return {**trace("W0"), "status": "failed", "error": "division by zero", "error_step": "out"}

    ev = evaluate_pipeline(PIPELINE, make_suite(1), case_runner=failing)
    assert ev.outcome == "candidate_error"
    assert ev.cases[0].reason == "step 'out': division by zero"
    assert ev.cases[0].passed_checks == 0


def test_failed_trace_with_breached_limit() -> None:
    def looping(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        return {
            **trace(None),
            "status": "failed",
            "error": "loop ran 1001 times",
            "error_step": "out",
            "error_type": "LimitExceeded",
            "limit": "max_loop_iterations",
        }

    ev = evaluate_pipeline(PIPELINE, make_suite(1), case_runner=looping)
    assert ev.outcome == "limit_exceeded"
    assert ev.reason and "max_loop_iterations" in ev.reason


@pytest.mark.parametrize("garbage", [42, None, "text"])
def test_runner_returning_garbage_is_crashed(garbage: Any) -> None:
    ev = evaluate_pipeline(PIPELINE, make_suite(1), case_runner=lambda p, c: garbage)
    assert ev.outcome == "crashed"


def test_retries_and_step_errors_are_recorded() -> None:
    def recovering(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        t = upper_runner(pipeline, case)
        t["steps"]["out"].update(retries=2, errors=["429 rate limited", "529 overloaded"])
        return t

    ev = evaluate_pipeline(PIPELINE, make_suite(1), case_runner=recovering)
    assert ev.cases[0].retries == 2
    assert ev.cases[0].errors == ["out: 429 rate limited", "out: 529 overloaded"]
    assert ev.dimensions["error_recovery"] == 1.0
    assert ev.score == pytest.approx(1.0)


@pytest.mark.parametrize(
    "exc", [ProviderUnavailable("5xx after retries"), SandboxError("fork failed")]
)
def test_infrastructure_faults_propagate(exc: Exception) -> None:
    def broken(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        raise exc

    with pytest.raises(type(exc)):
        evaluate_pipeline(PIPELINE, make_suite(2), case_runner=broken, max_workers=2)


def test_invalid_pipeline_is_scored_zero_without_running() -> None:
    bad = load_pipeline_text(
        "name: bad\nsteps:\n  - name: a\n    type: test_echo\n"
        "    value: '{{steps.ghost.result}}'\n",
        validate=False,
    )
    calls: list[str] = []

    def runner(pipeline: Pipeline, case: Any) -> dict[str, Any]:
        calls.append(case.id)
        return upper_runner(pipeline, case)

    ev = evaluate_pipeline(bad, make_suite(2), case_runner=runner, genome_id="gx")
    assert (ev.outcome, ev.score, calls) == ("invalid", 0.0, [])
    assert ev.reason and "ghost" in ev.reason


def test_judge_checks_need_a_judge() -> None:
    suite = load_suite_text(
        "name: j\ncases:\n  - checks:\n      - {type: llm_judge, prompt: 'Rate {{output}}'}\n"
    )
    with pytest.raises(ProviderConfigError, match="llm_judge"):
        evaluate_pipeline(PIPELINE, suite, case_runner=upper_runner)


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="runtime_factory"):
        evaluate_pipeline(PIPELINE, make_suite(1))
    with pytest.raises(ValueError, match="max_workers"):
        evaluate_pipeline(PIPELINE, make_suite(1), case_runner=upper_runner, max_workers=0)


def test_judge_checks_use_the_judge_and_config_model() -> None:
    seen: list[str] = []

    class Judge:
        name = "judge"

        def complete(self, request: LLMRequest) -> LLMResponse:
            seen.append(request.model)
            score = "9" if "W0" in request.prompt_text else "2"
            return LLMResponse(text=f"SCORE: {score}", model=request.model, provider="judge")

    suite = load_suite_text(
        "name: j\ncases:\n"
        "  - {id: a, inputs: {text: w0}, checks: [{type: llm_judge, prompt: 'Rate {{output}}'}]}\n"
        "  - {id: b, inputs: {text: w1}, checks: [{type: llm_judge, prompt: 'Rate {{output}}'}]}\n"
    )
    config = FitnessConfig(judge_model="judge-small")
    ev = evaluate_pipeline(PIPELINE, suite, case_runner=upper_runner, judge=Judge(), config=config)
    assert seen == ["judge-small", "judge-small"]
    assert [c.passed_checks for c in ev.cases] == [1, 0]
    assert ev.cases[0].checks[0].score == pytest.approx(0.9)
