"""``campaign validate`` shows every problem at once; ``pipeline validate`` spots campaigns;
``--version``; an empty ``list`` says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.campaign.check import campaign_problems
from evofarm.cli import main
from evofarm.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_problem_of_a_campaign_its_seeds_and_its_suite(tmp_path: Path) -> None:
    (tmp_path / "bad-seed.yaml").write_text("name: s\nsteps:\n  - {name: a, type: no_such_type}\n")
    (tmp_path / "suite.yaml").write_text("name: s\ncases: 3\n")
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        "name: c\nseeds: [bad-seed.yaml, missing.yaml]\nsuite: suite.yaml\n"
        "evolutoin: {}\nbudgets: {max_tokens: -1}\n"
    )
    problems = [str(p) for p in campaign_problems(campaign)]
    assert any("c.yaml:4" in p and "evolutoin" in p for p in problems)
    assert any("c.yaml:5" in p and "max_tokens" in p for p in problems)
    assert any("bad-seed.yaml" in p and "no_such_type" in p for p in problems)
    assert any("missing.yaml does not exist" in p for p in problems)
    assert any("suite.yaml" in p for p in problems if "c.yaml" not in p.split(":")[0])
    result = CliRunner().invoke(main.app, ["campaign", "validate", str(campaign)])
    assert result.exit_code == 2
    assert len(result.stdout.strip().splitlines()) == len(problems) >= 5


def test_a_valid_campaign_and_a_campaign_given_to_pipeline_validate() -> None:
    demo = str(ROOT / "pipelines/campaigns/demo.yaml")
    ok = CliRunner().invoke(main.app, ["campaign", "validate", demo])
    assert ok.exit_code == 0 and "OK (1 seeds)" in ok.stdout
    wrong = CliRunner().invoke(main.app, ["pipeline", "validate", demo])
    assert wrong.exit_code == 2 and "this is a campaign file" in wrong.stdout


def test_version_and_an_empty_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = CliRunner().invoke(main.app, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("evofarm ")
    monkeypatch.setenv("EVOFARM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("EVOFARM_BROKER_URL", raising=False)
    get_settings.cache_clear()  # the settings are read once per process
    try:
        listed = CliRunner().invoke(main.app, ["list"])
    finally:
        get_settings.cache_clear()
    assert listed.exit_code == 0 and "no campaigns yet" in listed.stdout
