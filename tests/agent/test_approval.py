"""approve / reject / deployed / rollback: in-process runs and farm campaigns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.campaign import control
from evofarm.campaign.approval import Decision, decide_in_store, local_decision
from evofarm.campaign.deployments import DeploymentRegistry, parse_version
from evofarm.campaign.reports import readback
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import ApprovalPolicy, load_campaign
from evofarm.cli import main
from evofarm.errors import CampaignStateError, UserInputError
from evofarm.pipeline.loader import load_pipeline
from evofarm.settings import get_settings
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "pipelines" / "campaigns" / "demo.yaml"

CAMPAIGN = """\
name: slugger
seeds: [{seed}]
suite: {suite}
evolution:
  population: 4
  offspring: 4
  generations: 2
  seed: 3
  operators: {{reflective_mutation: 1.0}}
providers:
  claude: {{provider: mock}}
approval: {{policy: {policy}}}
"""


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("EVOFARM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("EVOFARM_BROKER_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "state"
    get_settings.cache_clear()


def _campaign(tmp_path: Path, policy: str = "manual") -> Path:
    path = tmp_path / f"c-{policy}.yaml"
    path.write_text(
        CAMPAIGN.format(
            seed=REPO / "benchmarks/tasks/seed.yaml",
            suite=REPO / "benchmarks/tasks/slug.yaml",
            policy=policy,
        )
    )
    return path


def _run(runner: CliRunner, campaign: Path, out: Path, state: Path) -> str:
    before = set((state / "local").glob("*")) if (state / "local").exists() else set()
    result = runner.invoke(main.app, ["run", str(campaign), "--in-process", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (new,) = set((state / "local").glob("*")) - before
    return new.name


def test_in_process_approve_deploy_rollback(state: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    campaign = _campaign(tmp_path)
    first = _run(runner, campaign, tmp_path / "out1", state)
    assert json.loads((tmp_path / "out1/summary.json").read_text())["approval"] == "pending"
    ok = runner.invoke(main.app, ["approve", first, "--note", "looks right", "--by", "ada"])
    assert ok.exit_code == 0, ok.output
    assert "deployed slugger v1" in ok.output
    assert json.loads((tmp_path / "out1/summary.json").read_text())["approval"] == "approved"
    decision = local_decision(state, first)
    assert decision is not None and (decision.by, decision.note) == ("ada", "looks right")
    again = runner.invoke(main.app, ["approve", first])
    assert again.exit_code == 1 and "approved, not pending" in again.output

    second = _run(runner, campaign, tmp_path / "out2", state)
    assert runner.invoke(main.app, ["approve", second]).exit_code == 0
    third = _run(runner, campaign, tmp_path / "out3", state)
    rej = runner.invoke(main.app, ["reject", third, "--reason", "too slow"])
    assert rej.exit_code == 0 and "too slow" in rej.output
    assert json.loads((tmp_path / "out3/summary.json").read_text())["approval"] == "rejected"

    listing = runner.invoke(main.app, ["deployed"])
    assert "slugger  active v2  (2 versions)" in listing.output
    back = runner.invoke(main.app, ["rollback", "slugger", "--to", "v1", "--note", "regression"])
    assert back.exit_code == 0, back.output
    detail = runner.invoke(main.app, ["deployed", "slugger"]).output
    assert "* v1" in detail and "  v2" in detail and "rollback v1" in detail
    registry = DeploymentRegistry(state / "deployments")
    assert registry.index("slugger").active == 1
    assert registry.pipeline("slugger") == load_pipeline(state / "local" / first / "best.yaml")
    bad = runner.invoke(main.app, ["rollback", "slugger", "--to", "v9"])
    assert bad.exit_code == 1 and "no version v9" in bad.output
    assert runner.invoke(main.app, ["rollback", "slugger", "--to", "x"]).exit_code == 2
    assert runner.invoke(main.app, ["approve", "no-such-run"]).exit_code == 1


def test_auto_policy_cannot_be_approved(state: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    run_id = _run(runner, _campaign(tmp_path, "auto"), tmp_path / "o", state)
    result = runner.invoke(main.app, ["approve", run_id])
    assert result.exit_code == 1 and "not pending" in result.output


def test_farm_campaign_decision_is_kept_in_the_store() -> None:
    spec = load_campaign(DEMO)
    spec = spec.model_copy(
        update={
            "evolution": spec.evolution.model_copy(update={"generations": 1}),
            "approval": ApprovalPolicy(policy="manual"),
        }
    )
    store = MemoryStore()
    campaign = control.submit(store, spec, seed=2)
    dispatcher = ThreadDispatcher(store, synthetic_eval.factory(1), workers=2)
    Scheduler(store, dispatcher, campaign, options=SchedulerOptions(wait_s=0.1)).run()
    dispatcher.close()
    pending = readback.summary(store, campaign)
    assert pending.approval == "pending"
    decide_in_store(store, campaign, pending, Decision.now("rejected", "no", by="bob"))
    after = readback.summary(store, campaign)
    assert after.approval == "rejected"
    assert store.get_info(campaign, "approval_by") == "bob"
    with pytest.raises(CampaignStateError):
        decide_in_store(store, campaign, after, Decision.now("approved"))


def test_registry_versions(tmp_path: Path) -> None:
    registry = DeploymentRegistry(tmp_path)
    pipeline = load_pipeline(REPO / "benchmarks/tasks/seed.yaml")
    assert registry.deploy("p", pipeline, campaign="c", by="x").version == 1
    assert registry.deploy("p", pipeline, campaign="c", by="x").version == 2
    assert registry.names() == ["p"] and registry.index("p").active == 2
    assert parse_version("v3") == 3 and parse_version("4") == 4
    with pytest.raises(UserInputError):
        parse_version("v0")
    with pytest.raises(UserInputError):
        registry.deploy("../x", pipeline, campaign="c", by="x")
    with pytest.raises(CampaignStateError):
        registry.pipeline("never")
