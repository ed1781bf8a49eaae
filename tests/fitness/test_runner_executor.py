"""evaluate_pipeline with the real in-process executor (default case runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.fitness.runner import evaluate_pipeline, per_case_runtimes
from evofarm.fitness.suite import TaskSuite, load_suite_text
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.runtime import Runtime
from evofarm.providers.registry import ProviderSet

ECHO = load_pipeline_text(
    "name: echo\nsteps:\n  - name: out\n    type: test_echo\n    value: '{{inputs.text}}'\n"
)
SUITE = load_suite_text(
    """\
name: echo
cases:
  - {id: a, inputs: {text: alpha}, checks: [{type: equals, value: alpha, required: true}]}
  - {id: b, inputs: {text: beta}, checks: [{type: equals, value: beta, path: steps.out.result}]}
  - {id: c, inputs: {text: gamma}, checks: [{type: regex, pattern: "^g"}]}
"""
)


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return Runtime(providers=ProviderSet.for_provider("mock"), workspace=tmp_path / "ws")


def test_default_runner_runs_the_pipeline(runtime: Runtime, tmp_path: Path) -> None:
    ev = evaluate_pipeline(ECHO, SUITE, runtime_factory=per_case_runtimes(runtime))
    assert ev.outcome == "ok"
    assert ev.score == pytest.approx(1.0)
    assert [c.output_excerpt for c in ev.cases] == ["alpha", "beta", "gamma"]


def test_templates_are_strict_during_evaluation(runtime: Runtime) -> None:
    assert runtime.strict is False
    sloppy = load_pipeline_text(
        "name: s\ninputs: {text: ''}\nsteps:\n"
        "  - name: out\n    type: test_echo\n    value: '{{inputs.txet}}'\n"
    )
    ev = evaluate_pipeline(sloppy, SUITE, runtime_factory=per_case_runtimes(runtime))
    assert ev.outcome == "candidate_error"
    assert ev.reason and "txet" in ev.reason
    assert ev.score == 0.0


def test_threads_give_the_same_verdicts(runtime: Runtime) -> None:
    factory = per_case_runtimes(runtime)
    parallel = evaluate_pipeline(ECHO, SUITE, runtime_factory=factory, max_workers=3)
    sequential = evaluate_pipeline(ECHO, SUITE, runtime_factory=factory)
    assert [c.case_id for c in parallel.cases] == ["a", "b", "c"]
    assert [c.checks for c in parallel.cases] == [c.checks for c in sequential.cases]
    assert parallel.score == sequential.score


def test_each_case_gets_its_own_workspace(runtime: Runtime, tmp_path: Path) -> None:
    factory = per_case_runtimes(runtime, tmp_path / "cases")
    suite = TaskSuite.model_validate(
        {
            "name": "x",
            "cases": [
                {"id": "a/b", "checks": [{"type": "equals", "value": 1}]},
                {"id": "a_b", "checks": [{"type": "equals", "value": 1}]},
            ],
        }
    )
    spaces = [factory(c).workspace for c in suite.cases]
    assert len(set(spaces)) == 2
    assert all(s.parent == tmp_path / "cases" for s in spaces)
    assert factory(suite.cases[0]).providers is runtime.providers
