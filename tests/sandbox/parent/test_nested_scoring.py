"""pipeline_executor inside the sandbox: the child asks its worker to score, never reads a suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evofarm.campaign.worker.nested import SandboxScorer, ScorerSetup
from evofarm.errors import SuiteError
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.providers.mock import MockProvider
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.batch import run_pipeline_batch_sandboxed
from evofarm.sandbox.parent.score_relay import ScoreRelay, _problem
from evofarm.sandbox.wire.outcome import Outcome, SandboxUsage

SUITE = """\
name: echo
cases:
  - {id: a, inputs: {text: alpha}, checks: [{type: equals, value: alpha, required: true}]}
  - {id: b, inputs: {text: beta}, checks: [{type: equals, value: beta}]}
"""
CHILD = "name: child\nsteps:\n  - {name: out, type: test_echo, value: '{{inputs.text}}'}\n"
HALF = "name: child\nsteps:\n  - {name: out, type: test_echo, value: alpha}\n"

META = """\
name: meta
steps:
  - name: genesis
    type: test_echo
    value: "{{inputs.child}}"
  - name: evaluate
    type: pipeline_executor
    pipeline_source: genesis
    suite: "{{inputs.suite}}"
"""
# A pipeline whose produced pipeline is handed over as data, not YAML text.
AS_DATA = """\
name: again
steps:
  - name: me
    type: test_echo
    value: {name: again, steps: [{name: me, type: test_echo, value: x}]}
  - name: evaluate
    type: pipeline_executor
    pipeline_source: me
    suite: echo
"""


@pytest.fixture
def setup(tmp_path: Path) -> ScorerSetup:
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "echo.yaml").write_text(SUITE)
    return ScorerSetup(suites_dir=suites, llm=MockProvider(), limits=SandboxLimits())


def _run(meta: str, cases: list[tuple[str, dict[str, Any]]], scorer: Any) -> dict[str, Any]:
    result = run_pipeline_batch_sandboxed(
        load_pipeline_text(meta), cases, llm=MockProvider(), scorer=scorer
    )
    return dict(result.cases)


def test_the_child_gets_scores_from_its_worker(setup: ScorerSetup) -> None:
    reports = _run(
        META,
        [("good", {"child": CHILD, "suite": "echo"}), ("half", {"child": HALF, "suite": "echo"})],
        SandboxScorer(setup),
    )
    good = reports["good"].value["steps"]["evaluate"]["result"]
    half = reports["half"].value["steps"]["evaluate"]["result"]
    assert (good["passed"], good["total"], good["outcome"]) == (2, 2, "ok")
    assert half["passed"] == 1 and half["fitness"] < good["fitness"]
    # only the scores cross: no case, expected output or check detail
    assert set(good) == {"fitness", "passed", "total", "reason", "outcome"}
    assert "beta" not in json.dumps(half)


def test_an_unknown_suite_or_no_scorer_fails_the_step(setup: ScorerSetup) -> None:
    reports = _run(META, [("x", {"child": CHILD, "suite": "nope"})], SandboxScorer(setup))
    assert reports["x"].outcome is Outcome.CANDIDATE_ERROR
    assert "nope" in reports["x"].message
    reports = _run(META, [("x", {"child": CHILD, "suite": "echo"})], None)
    assert "not available in this sandbox" in reports["x"].message


def test_nesting_is_capped_by_the_worker(setup: ScorerSetup) -> None:
    reports = _run(AS_DATA, [("r", {})], SandboxScorer(setup))
    assert reports["r"].outcome is Outcome.OK
    assert reports["r"].value["steps"]["evaluate"]["result"]["total"] == 2
    # a child claiming any depth: the worker's own count stops at MAX_NESTING
    assert SandboxScorer(setup, depth=2)({}, "echo", 1.0, {})["outcome"] == "limit_exceeded"
    with pytest.raises(SuiteError):
        SandboxScorer(setup)({"name": "x", "steps": []}, "../etc", 1.0, {})


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"pipeline": [], "suite": "s", "fidelity": 1, "inputs": {}}, "pipeline"),
        ({"pipeline": {}, "suite": "../s", "fidelity": 1, "inputs": {}}, "suite"),
        ({"pipeline": {}, "suite": "a/b", "fidelity": 1, "inputs": {}}, "suite"),
        ({"pipeline": {}, "suite": "s", "fidelity": 0, "inputs": {}}, "fidelity"),
        ({"pipeline": {}, "suite": "s", "fidelity": True, "inputs": {}}, "fidelity"),
        ({"pipeline": {}, "suite": "s", "fidelity": 1, "inputs": []}, "inputs"),
        ({"pipeline": {}, "suite": "s", "fidelity": 1, "inputs": {"a": "x" * 70_000}}, "inputs"),
    ],
)
def test_hostile_requests_are_refused(message: dict[str, Any], problem: str) -> None:
    found = _problem(message)
    assert found is not None and found.startswith(problem)


def test_requests_are_capped_and_counted() -> None:
    calls: list[str] = []

    def scorer(p: dict[str, Any], s: str, f: float, i: dict[str, Any]) -> dict[str, Any]:
        calls.append(s)
        return {"fitness": 1.0, "passed": 1, "total": 1, "outcome": "ok",
                "usage": {"input_tokens": 5, "output_tokens": 7, "cost_usd": 0.5},
                "cases": ["secret"]}  # fmt: skip

    usage = SandboxUsage()
    relay = ScoreRelay(scorer, usage, max_scores=1)
    ok = {"type": "score", "id": 1, "pipeline": {}, "suite": "s", "fidelity": 1.0, "inputs": {}}
    assert relay.submit(ok) is None
    refused = relay.submit({**ok, "id": 2})
    assert refused is not None and "at most 1" in refused["message"]
    replies: list[dict[str, Any]] = []
    for _ in range(200):
        replies += relay.ready()
        if replies:
            break
        import time  # noqa: PLC0415

        time.sleep(0.01)
    relay.close()
    (reply,) = replies
    assert reply["type"] == "score_result" and "cases" not in reply["result"]
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd) == (5, 7, 0.5)
    assert calls == ["s"]
