"""The farm CLI end to end: real `evofarm` processes, embedded farms, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from evofarm.farm.embedded import group_members
from evofarm.farm.session import campaign_farm
from evofarm.pipeline.loader import load_pipeline
from evofarm.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EVOFARM = str(Path(sys.executable).parent / "evofarm")

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path, farm_env: dict[str, str]) -> Cli:
    """Run `evofarm ARGS` with the state dir in tmp_path and no shared farm."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOFARM_")}
    env["EVOFARM_STATE_DIR"] = str(tmp_path / "state")

    def run(
        *args: str, synthetic: bool = False, latency_s: float = 0.05, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        extra = {**farm_env, "EVOFARM_SYNTHETIC_LATENCY_S": str(latency_s)} if synthetic else {}
        return subprocess.run(
            [EVOFARM, *args],
            check=False,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
        )

    return run


def _campaign_file(tmp_path: Path, generations: int) -> Path:
    data = yaml.safe_load((ROOT / "pipelines/campaigns/demo.yaml").read_text())
    data["seeds"] = [str(ROOT / "pipelines/examples/contact-cleaner-seed.yaml")]
    data["suite"] = str(ROOT / "pipelines/suites/contacts.yaml")
    data["evolution"].update(generations=generations, target_fitness=None)
    data["budgets"] = {}
    path = tmp_path / f"campaign-{generations}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _farm_pids(state: Path) -> list[int]:
    """Live processes whose command line mentions the state directory (daemons, Redis)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(state) in cmd and int(proc.name) != os.getpid():
                found.append(int(proc.name))
    return found


def _status(cli: Cli, campaign: str) -> dict[str, object]:
    result = cli("status", campaign, "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _wait_status(
    cli: Cli, campaign: str, states: set[str], timeout: float = 90
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(cli, campaign)
        if status["status"] in states:
            return status
        time.sleep(0.5)
    raise AssertionError(f"{campaign} never reached {states}")


def test_run_on_two_workers_matches_in_process(cli: Cli, tmp_path: Path) -> None:
    demo = str(ROOT / "pipelines/campaigns/demo.yaml")
    here = cli("run", demo, "--in-process", "--out", "local")
    assert here.returncode == 0, here.stderr
    farm = cli("run", demo, "--workers", "2", "--out", "farm", timeout=240)
    assert farm.returncode == 0, farm.stderr
    local = json.loads((tmp_path / "local/summary.json").read_text())
    distributed = json.loads((tmp_path / "farm/summary.json").read_text())
    assert distributed["best"] == local["best"]
    assert (distributed["status"], distributed["reason"]) == (local["status"], local["reason"])
    assert distributed["evaluations"] == local["evaluations"]
    assert (tmp_path / "farm/best.yaml").read_text() == (tmp_path / "local/best.yaml").read_text()
    rows = (tmp_path / "farm/fitness-history.jsonl").read_text().splitlines()
    assert len(rows) == distributed["evaluations"]
    assert _farm_pids(tmp_path / "state") == []


def test_submit_stop_resume_best_export_kill(cli: Cli, tmp_path: Path) -> None:
    campaign_file = _campaign_file(tmp_path, generations=12)
    # Slow cases (~3 s a generation) so `stop`, itself seconds to start on a busy
    # machine, surely arrives mid-campaign; the resumed run goes at full speed.
    submitted = cli("submit", str(campaign_file), "--workers", "1", synthetic=True, latency_s=0.25)
    assert submitted.returncode == 0, submitted.stderr
    campaign = submitted.stdout.strip()
    assert campaign.startswith("demo-")
    assert campaign in cli("list").stdout
    assert cli("stop", campaign).returncode == 0
    stopped = _wait_status(cli, campaign, {"stopped", "completed"})
    assert stopped["status"] == "stopped" and stopped["reason"] == "stopped by user"
    assert isinstance(stopped["generation"], int) and stopped["generation"] < 12
    # The daemon stopped its farm on the way out.
    deadline = time.monotonic() + 30
    while _farm_pids(tmp_path / "state") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _farm_pids(tmp_path / "state") == []

    resumed = cli("resume", campaign, "--workers", "1", "--out", "out", synthetic=True)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert (summary["status"], summary["generations"]) == ("completed", 12)

    watched = cli("watch", campaign, "--out", "watched")
    assert watched.returncode == 0 and "completed" in watched.stdout
    written = json.loads((tmp_path / "watched/summary.json").read_text())
    assert {k: v for k, v in written.items() if k != "wall_s"} == {
        k: v for k, v in summary.items() if k != "wall_s"
    }
    rebuilt = cli("outputs", campaign, "-o", "rebuilt")
    assert rebuilt.returncode == 0, rebuilt.stderr
    for name in ("summary.json", "best.yaml", "fitness-history.jsonl", "generations.jsonl"):
        assert (tmp_path / "rebuilt" / name).is_file(), name
    generations = (tmp_path / "rebuilt/generations.jsonl").read_text().splitlines()
    assert json.loads(generations[0])["generation"] == 0 and len(generations) == 13
    reported = cli("report", campaign, "-o", "report.html")
    assert reported.returncode == 0, reported.stderr
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html and campaign in html and "<script" not in html
    status = cli("status", campaign)
    assert status.returncode == 0 and "generation 12/12" in status.stdout
    assert cli("best", campaign, "-o", "best.yaml").returncode == 0
    assert load_pipeline(tmp_path / "best.yaml").steps
    exported = cli("export", campaign, "-o", "export")
    assert exported.returncode == 0, exported.stderr
    lineage = json.loads((tmp_path / "export/lineage.json").read_text())
    assert lineage["campaign"] == campaign and lineage["edges"]
    history = (tmp_path / "export/fitness-history.jsonl").read_text().splitlines()
    assert len(history) == summary["evaluations"]

    long_file = _campaign_file(tmp_path, generations=500)
    other = cli("submit", str(long_file), "--workers", "1", synthetic=True).stdout.strip()
    _wait_status(cli, other, {"running"})
    killed = cli("kill", "--all")
    assert killed.returncode == 0 and other in killed.stdout
    assert _wait_status(cli, other, {"killed"})["status"] == "killed"
    assert cli("kill", other).stdout.strip().endswith("had already ended")
    assert cli("watch", other).returncode == 1  # a killed campaign is not a success
    deadline = time.monotonic() + 30
    while _farm_pids(tmp_path / "state") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _farm_pids(tmp_path / "state") == []


def test_bad_campaign_files_get_one_clear_line(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nseeds: [nope.yaml]\nsuite: s.yaml\nevolutoin: {}\n")
    for command in (["run", str(bad)], ["submit", str(bad)]):
        result = cli(*command)
        assert result.returncode == 2
        assert "bad.yaml:4" in result.stderr and "evolutoin" in result.stderr
        assert "Traceback" not in result.stderr
    assert cli("status", "no-such-campaign").returncode == 1
    assert "no campaign" in cli("status", "no-such-campaign").stderr
    assert group_members(os.getpgid(0)) != []  # sanity: /proc scanning works here


MANUAL = """\
name: slugger
seeds: [{seed}]
suite: {suite}
evolution:
  population: 4
  offspring: 4
  generations: 2
  seed: {rng}
  operators: {{reflective_mutation: 1.0}}
providers:
  claude: {{provider: mock}}
approval: {{policy: manual}}
"""


def _manual_campaign(cli: Cli, tmp_path: Path, rng: int) -> str:
    """Run a manual-approval campaign on an embedded farm; its id (the winner pending)."""
    path = tmp_path / f"manual-{rng}.yaml"
    path.write_text(
        MANUAL.format(
            seed=ROOT / "benchmarks/tasks/seed.yaml",
            suite=ROOT / "benchmarks/tasks/slug.yaml",
            rng=rng,
        )
    )
    ran = cli("run", str(path), "--workers", "2", "--out", f"out-{rng}", timeout=240)
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((tmp_path / f"out-{rng}/summary.json").read_text())
    assert summary["approval"] == "pending" and summary["best"]["genome"]
    return str(summary["campaign"])


def test_farm_approve_deploys_and_reject_records_why(cli: Cli, tmp_path: Path) -> None:
    first = _manual_campaign(cli, tmp_path, 3)
    assert "nothing deployed" in cli("deployed").stdout
    approved = cli("approve", first, "--note", "slugs look right", "--by", "ada")
    assert approved.returncode == 0, approved.stderr
    # Deployed under the campaign's name (not its farm id) as v1.
    assert "deployed slugger v1" in approved.stdout
    listed = cli("deployed", "slugger")
    assert listed.returncode == 0, listed.stderr
    assert "* v1  fitness 1.0000" in listed.stdout and first in listed.stdout
    assert "by ada" in listed.stdout and "slugs look right" in listed.stdout
    deployed = load_pipeline(tmp_path / "state" / "deployments" / "slugger" / "v1.yaml")
    best = load_pipeline(tmp_path / "out-3/best.yaml")
    assert deployed == best
    again = cli("approve", first)
    assert again.returncode == 1 and "approved, not pending" in again.stderr
    second = _manual_campaign(cli, tmp_path, 4)
    rejected = cli("reject", second, "--reason", "too clever", "--by", "ada")
    assert rejected.returncode == 0, rejected.stderr
    out = cli("outputs", second, "-o", "after")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "after/summary.json").read_text())["approval"] == "rejected"
    with campaign_farm(_settings(tmp_path), second) as farm:
        info = farm.store.get_campaign(second).info  # type: ignore[union-attr]
    assert (info["approval"], info["approval_note"], info["approval_by"]) == (
        "rejected",
        "too clever",
        "ada",
    )
    assert "v2" not in cli("deployed", "slugger").stdout
    assert _farm_pids(tmp_path / "state") == []


def _settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", broker_url=None)
