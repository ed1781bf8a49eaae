"""The META-PIPELINE pipeline_executor step: evaluating a produced pipeline in a run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evofarm.fitness import pipeline_executor_step as pes
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.runtime import Runtime
from evofarm.pipeline.step_types import register_step_type, step_type
from evofarm.providers.registry import ProviderSet

SUITE = """\
name: echo
cases:
  - {id: a, inputs: {text: alpha}, checks: [{type: equals, value: alpha, required: true}]}
  - {id: b, inputs: {text: beta}, checks: [{type: equals, value: beta}]}
"""

GOOD_CHILD = (
    "name: child\nsteps:\n  - name: out\n    type: test_echo\n    value: '{{inputs.text}}'\n"
)
HALF_CHILD = "name: child\nsteps:\n  - name: out\n    type: test_echo\n    value: alpha\n"

META = """\
name: meta
steps:
  - name: genesis
    type: test_echo
    value: '{{inputs.child}}'
  - name: evaluate
    type: pipeline_executor
    pipeline_source: genesis
    suite: '{{inputs.suite}}'
    fidelity: '{{inputs.fidelity}}'
"""


@pytest.fixture
def suites(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "suites"
    directory.mkdir()
    (directory / "echo.yaml").write_text(SUITE)
    original = step_type("pipeline_executor")
    pes.install(suites_dir=directory)
    yield directory
    register_step_type(original, replace=True)


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return Runtime(providers=ProviderSet.for_provider("mock"), workspace=tmp_path / "ws")


def run_meta(runtime: Runtime, child: Any, *, suite: str = "echo", fidelity: Any = 1) -> Any:
    meta = load_pipeline_text(META)
    return run_pipeline(
        meta, {"child": child, "suite": suite, "fidelity": fidelity}, runtime=runtime
    )


def test_good_child_scores_one(suites: Path, runtime: Runtime) -> None:
    trace = run_meta(runtime, GOOD_CHILD)
    assert trace.status == "completed", trace.error
    assert trace.output == {
        "fitness": pytest.approx(1.0),
        "passed": 2,
        "total": 2,
        "reason": None,
        "outcome": "ok",
    }


def test_half_right_child_by_hand(suites: Path, runtime: Runtime) -> None:
    result = run_meta(runtime, HALF_CHILD).output
    # case a passes (gate 1/1), b fails (no gate): test_rate .5, gates 1, efficiency 1
    assert result["fitness"] == pytest.approx(0.5 * 0.5 + 1.0 * 0.25 + 1.0 * 0.25)
    assert (result["passed"], result["total"]) == (1, 2)


def test_child_as_data_is_accepted(suites: Path, runtime: Runtime) -> None:
    data = {
        "name": "child",
        "steps": [{"name": "out", "type": "test_echo", "value": "{{inputs.text}}"}],
    }
    assert run_meta(runtime, data).output["fitness"] == pytest.approx(1.0)


@pytest.mark.parametrize("child", ["name: x\nsteps: [{name: a, type: nope}]\n", "::: not yaml", 42])
def test_invalid_child_scores_zero_and_the_run_goes_on(
    suites: Path, runtime: Runtime, child: Any
) -> None:
    trace = run_meta(runtime, child)
    assert trace.status == "completed"
    assert trace.output["fitness"] == 0.0
    assert trace.output["outcome"] == "invalid"
    assert trace.output["reason"]


def test_low_fidelity_runs_fewer_cases(suites: Path, runtime: Runtime) -> None:
    assert run_meta(runtime, GOOD_CHILD, fidelity="0.5").output["total"] == 1


@pytest.mark.parametrize(
    ("suite", "fidelity", "message"),
    [("missing", 1, "no suite named"), ("../echo", 1, "outside"), ("echo", 2, "fidelity")],
)
def test_meta_pipeline_mistakes_fail_the_step(
    suites: Path, runtime: Runtime, suite: str, fidelity: Any, message: str
) -> None:
    trace = run_meta(runtime, GOOD_CHILD, suite=suite, fidelity=fidelity)
    assert trace.status == "failed"
    assert trace.error_step == "evaluate"
    assert trace.error and message in trace.error


def test_nested_evaluation_depth_is_bounded(
    suites: Path, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pes, "MAX_NESTING", 1)
    (suites / "nested.yaml").write_text(
        "name: nested\ncases:\n  - checks:\n"
        "      - {type: equals, value: limit_exceeded, path: steps.inner.result.outcome}\n"
    )
    child = (
        "name: child\nsteps:\n"
        "  - {name: grandchild, type: test_echo, value: 'name: g'}\n"
        "  - {name: inner, type: pipeline_executor, pipeline_source: grandchild, suite: echo}\n"
    )
    trace = run_meta(runtime, child, suite="nested")
    assert trace.status == "completed", trace.error
    assert trace.output["fitness"] == pytest.approx(1.0)


def test_nested_usage_is_charged_to_the_step(suites: Path, runtime: Runtime) -> None:
    child = (
        "name: child\nsteps:\n"
        "  - {name: ask, type: claude, prompt: 'Say {{inputs.text}}'}\n"
        "  - {name: out, type: test_echo, value: '{{inputs.text}}'}\n"
    )
    trace = run_meta(runtime, child)
    assert trace.output["fitness"] == pytest.approx(1.0)
    step = trace.steps["evaluate"]
    assert step.input_tokens > 0 and step.output_tokens > 0


def test_install_is_idempotent(suites: Path) -> None:
    first = pes.install(suites_dir=suites)
    second = pes.install(suites_dir=suites)
    assert first is not second
