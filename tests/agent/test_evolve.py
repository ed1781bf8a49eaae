"""``evolve``: improves, reverts worse candidates, stops after the attempts, budgets, history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.agent.evolve import EvolveOptions, evolve, file_judge
from evofarm.agent.history import read_rows, sparkline, trends
from evofarm.agent.workflows import AgentConfig, WorkflowBudget, load_agent_config
from evofarm.cli import main
from evofarm.errors import UserInputError
from evofarm.fitness.suite import TaskSuite, load_suite
from evofarm.providers.mock import ScriptedProvider
from evofarm.providers.registry import ProviderSet
from evofarm.settings import get_settings
from evofarm.testing.fake_anthropic import FakeAnthropicServer, FakeReply

REPO = Path(__file__).resolve().parents[2]
SLUG = REPO / "benchmarks" / "tasks" / "slug.yaml"
SEED = REPO / "benchmarks" / "tasks" / "seed.yaml"

UPPER = """\
name: identity
inputs: {text: ""}
steps:
  - name: out
    type: transform
    input: "{{inputs.text}}"
    operations: [{op: upper}]
"""
LOWER = UPPER.replace("upper", "lower")


def _fenced(text: str) -> str:
    return f"I changed the operation.\n```yaml\n{text}```\n"


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(SEED.read_text())
    return path


@pytest.fixture
def suite() -> TaskSuite:
    return load_suite(SLUG)


def _run(path: Path, suite: TaskSuite, tmp: Path, **kw: object) -> object:
    judge = file_judge(suite, ProviderSet.for_provider("mock"), tmp / "ws")
    return evolve(path, suite, judge, EvolveOptions(history=tmp / "h.jsonl", **kw))  # type: ignore[arg-type]


def test_offline_proposer_improves_and_keeps_a_backup(
    pipeline: Path, suite: TaskSuite, tmp_path: Path
) -> None:
    before = pipeline.read_text()
    result = _run(pipeline, suite, tmp_path)
    assert result.initial < 0.5 and result.final == 1.0  # type: ignore[attr-defined]
    assert result.stop == "log_only"  # type: ignore[attr-defined]
    assert (tmp_path / "p.yaml.bak1").read_text() == before
    assert "replace" in pipeline.read_text()
    assert not (tmp_path / "p.yaml.candidate").exists()
    rows = read_rows(tmp_path / "h.jsonl")
    assert [(r.action, r.kept) for r in rows] == [("judge", True), ("redesign", True)]
    assert set(json.loads((tmp_path / "h.jsonl").read_text().splitlines()[0])) == {
        "ts", "pipeline", "step", "fitness", "tokens", "time_ms", "tests_passed",
        "tests_total", "action", "kept",
    }  # fmt: skip


def test_worse_candidate_is_reverted_and_strategies_change(
    pipeline: Path, suite: TaskSuite, tmp_path: Path
) -> None:
    before = pipeline.read_text()
    scripted = ScriptedProvider([_fenced(UPPER)] * 3)
    result = _run(pipeline, suite, tmp_path, proposer=scripted)
    assert pipeline.read_text() == before
    assert not list(tmp_path.glob("p.yaml.bak*"))
    assert not (tmp_path / "p.yaml.candidate").exists()
    attempts = result.attempts  # type: ignore[attr-defined]
    assert len(attempts) == 3 and not any(a.kept for a in attempts)
    assert [a.strategy for a in attempts] == ["redesign", "tune_lightly", "rewrite"]
    assert result.stop == "attempts"  # type: ignore[attr-defined]
    # the proposer sees the earlier attempts on the same version
    last = scripted.requests[-1].prompt_text
    assert "Earlier changes already tried" in last and "1. redesign: changed out" in last
    rows = read_rows(tmp_path / "h.jsonl")
    assert [r.kept for r in rows] == [True, False, False, False]


def test_prose_and_broken_yaml_are_discarded_and_attempts_cap(
    pipeline: Path, suite: TaskSuite, tmp_path: Path
) -> None:
    scripted = ScriptedProvider(["no yaml here", "```yaml\nname: [\n```", _fenced(LOWER)])
    result = _run(pipeline, suite, tmp_path, proposer=scripted, attempts=2)
    assert len(scripted.requests) == 2
    assert result.discarded == {"no_yaml": 1, "invalid_yaml": 1}  # type: ignore[attr-defined]
    assert result.final == result.initial  # type: ignore[attr-defined]


def test_better_llm_candidate_is_kept_after_a_revert(
    pipeline: Path, suite: TaskSuite, tmp_path: Path
) -> None:
    good = UPPER.replace("[{op: upper}]", "[{op: lower}, {op: replace, old: ' ', new: '-'}]")
    scripted = ScriptedProvider([_fenced(LOWER), _fenced(good)])
    result = _run(pipeline, suite, tmp_path, proposer=scripted)
    assert result.final == 1.0  # type: ignore[attr-defined]
    # lower-casing alone scores no better than the identity: reverted, then the fix is kept
    assert [a.kept for a in result.attempts] == [False, True]  # type: ignore[attr-defined]
    assert (tmp_path / "p.yaml.bak1").exists() and not (tmp_path / "p.yaml.bak2").exists()
    assert result.tokens > 0  # type: ignore[attr-defined]


def test_workflow_budgets_are_enforced(pipeline: Path, suite: TaskSuite, tmp_path: Path) -> None:
    tiny = AgentConfig(
        workflows={"bugfix": WorkflowBudget(token_budget=1, time_budget_s=60, max_iterations=3)}
    )
    scripted = ScriptedProvider([_fenced(UPPER)] * 3)
    result = _run(pipeline, suite, tmp_path, proposer=scripted, workflow="bugfix", config=tiny)
    assert len(scripted.requests) == 1 and result.stop == "token_budget"  # type: ignore[attr-defined]
    one = AgentConfig(
        workflows={
            "refactor": WorkflowBudget(token_budget=10**6, time_budget_s=60, max_iterations=1)
        }
    )
    scripted = ScriptedProvider([_fenced(UPPER)] * 3)
    _run(pipeline, suite, tmp_path, proposer=scripted, workflow="refactor", config=one, attempts=3)
    assert len(scripted.requests) == 1


def test_required_gate_blocks_a_regressing_candidate(tmp_path: Path) -> None:
    # the current pipeline passes case a only; the candidate passes b and c but breaks a
    suite = TaskSuite.model_validate(
        {
            "name": "g",
            "cases": [
                {"id": i, "inputs": {"text": x},
                 "checks": [{"type": "equals", "value": y, "required": True}]}
                for i, x, y in (("a", "AB", "AB"), ("b", "cd", "CD"), ("c", "ef", "EF"))
            ],
        }
    )  # fmt: skip
    path = tmp_path / "p.yaml"
    path.write_text(UPPER.replace("[{op: upper}]", "[{op: slice}]"))
    worse_for_a = UPPER.replace("[{op: upper}]", "[{op: upper}, {op: replace, old: AB, new: x}]")
    for workflow, kept in (("bugfix", False), ("feature", True)):
        scripted = ScriptedProvider([_fenced(worse_for_a)])
        result = _run(path, suite, tmp_path, proposer=scripted, workflow=workflow, attempts=1)
        assert result.attempts[0].kept is kept, workflow  # type: ignore[attr-defined]


def test_step_scope_changes_only_that_step(tmp_path: Path, suite: TaskSuite) -> None:
    two = UPPER + (
        '  - name: tail\n    type: transform\n    input: "{{steps.out.result}}"\n'
        "    operations: [{op: slice}]\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(two)
    proposal = two.replace("[{op: upper}]", "[{op: lower}]").replace(
        "[{op: slice}]", "[{op: replace, old: ' ', new: '-'}]"
    )
    scripted = ScriptedProvider([_fenced(proposal)])
    result = _run(path, suite, tmp_path, proposer=scripted, step="tail", attempts=1)
    # only `tail` was taken from the proposal: upper + dashes fails every case
    assert result.attempts[0].fitness < 1.0  # type: ignore[attr-defined]
    assert "Change only the step `tail`" in scripted.requests[0].prompt_text
    with pytest.raises(UserInputError):
        _run(path, suite, tmp_path, step="nope")


def test_hostile_and_huge_proposals_are_discarded_with_their_reason(
    pipeline: Path, suite: TaskSuite, tmp_path: Path
) -> None:
    bad = "```yaml\nname: x\nsteps:\n  - {name: a, type: rm_rf}\n```"
    scripted = ScriptedProvider([bad, _fenced("x: y\n" * 40_000)])
    result = _run(pipeline, suite, tmp_path, proposer=scripted, attempts=2)
    assert result.discarded == {"unknown_step_type": 1, "too_large": 1}  # type: ignore[attr-defined]


def test_config_file_overrides_and_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("instructions: {rewrite: 'Do it again.'}\n")
    loaded = load_agent_config(cfg)
    assert loaded.instruction("rewrite") == "Do it again."
    assert loaded.budget("security").max_iterations == 3
    cfg.write_text("workflows: {feature: {token_budget: -1}}\n")
    with pytest.raises(UserInputError) as info:
        load_agent_config(cfg)
    assert "workflows.feature" in str(info.value)


def test_history_trend_and_cli(pipeline: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    history = tmp_path / "h.jsonl"
    out = runner.invoke(
        main.app,
        ["evolve", str(pipeline), "--suite", str(SLUG), "--history-file", str(history)],
    )
    assert out.exit_code == 0, out.output
    assert "0.2500 -> 1.0000" in out.output
    out = runner.invoke(main.app, ["evolve", "--history", "--history-file", str(history)])
    assert out.exit_code == 0
    assert "identity" in out.output and "▃█" in out.output
    (trend,) = trends(read_rows(history))
    assert (trend.best, trend.last, trend.judgements) == (1.0, 1.0, 2)
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    bad = runner.invoke(
        main.app, ["evolve", str(pipeline), "--suite", str(SLUG), "--workflow", "x"]
    )
    assert bad.exit_code == 2


@pytest.fixture
def fake_anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        monkeypatch.setenv("EVOFARM_ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("EVOFARM_ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("EVOFARM_ANTHROPIC_MAX_RETRIES", "0")
        get_settings.cache_clear()
        try:
            yield server
        finally:
            get_settings.cache_clear()


def test_evolve_on_anthropic_runs_the_reflective_mutation_meta_pipeline(
    pipeline: Path, suite: TaskSuite, tmp_path: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    good = UPPER.replace("[{op: upper}]", "[{op: lower}, {op: replace, old: ' ', new: '-'}]")
    replies = iter(["I would lower-case it.", _fenced(LOWER), _fenced(good)])
    fake_anthropic.set_handler(
        lambda request: FakeReply.ok(next(replies), input_tokens=900, output_tokens=150)
    )
    result = _run(pipeline, suite, tmp_path, proposer="anthropic", model="claude-haiku-4-5")
    # Prose discarded, the worse candidate reverted, the fix kept.
    assert [a.kept for a in result.attempts] == [False, False, True]  # type: ignore[attr-defined]
    assert result.discarded == {"no_yaml": 1}  # type: ignore[attr-defined]
    assert result.final == 1.0  # type: ignore[attr-defined]
    assert "lower" in pipeline.read_text() and (tmp_path / "p.yaml.bak1").exists()
    assert result.tokens == fake_anthropic.billed.tokens == 3 * 1050  # type: ignore[attr-defined]
    # The requests are the campaign's reflective mutation, with the band's instruction.
    bodies = [r.prompt_text for r in fake_anthropic.message_requests]
    assert all("Here is the pipeline:" in b and "How far to go:" in b for b in bodies)
    assert "1. redesign: the answer held no usable pipeline" in bodies[1]
    rows = read_rows(tmp_path / "h.jsonl")
    # The first judgement, then each judged candidate with its strategy.
    assert [(r.action, r.kept) for r in rows[1:]] == [("tune_lightly", False), ("rewrite", True)]
    assert rows[-1].fitness == 1.0 and rows[-1].tokens > 0


def test_evolve_on_anthropic_stops_after_its_attempts(
    pipeline: Path, suite: TaskSuite, tmp_path: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_anthropic.set_handler(lambda request: _fenced(LOWER))
    before = pipeline.read_text()
    result = _run(pipeline, suite, tmp_path, proposer="anthropic", attempts=2)
    assert result.stop == "attempts" and len(fake_anthropic.message_requests) == 2  # type: ignore[attr-defined]
    assert pipeline.read_text() == before and not (tmp_path / "p.yaml.candidate").exists()
    assert len(read_rows(tmp_path / "h.jsonl")) == 3
