"""The dashboard over embedded runs: EmbeddedSource on the real, persisted Redis of each run.

Each run directory (``STATE_DIR/runs/ID/farm``) holds a real redis-server's
append-only data, as ``evofarm run`` on the embedded farm leaves it. The runs
here are made by the real scheduler on that Redis and then the server is
stopped (an ended run); the source must start each Redis to read it, serve it
through the app, write an approval into it, and stop what it started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from evofarm.campaign import control
from evofarm.campaign.deployments import DeploymentRegistry
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.cli import main
from evofarm.cli.approve_cmd import registry
from evofarm.dashboard.app import create_app
from evofarm.dashboard.source import EmbeddedSource
from evofarm.farm.redis_server import RedisServer, answers_ping, locate_socket
from evofarm.farm.session import RUNS, connect_farm, embedded_farm
from evofarm.settings import Settings, get_settings
from evofarm.testing import synthetic_eval

from .conftest import DEMO, TOKEN

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _spec(policy: str) -> CampaignSpec:
    spec = load_campaign(DEMO)
    return spec.model_copy(
        update={
            "evolution": spec.evolution.model_copy(update={"generations": 2}),
            "approval": spec.approval.model_copy(update={"policy": policy}),
        }
    )


def _embedded_run(state: Path, campaign: str, spec: CampaignSpec) -> Path:
    """Run ``campaign`` to its end on its own persisted Redis, then stop that Redis."""
    farm_dir = state / RUNS / campaign / "farm"
    farm_dir.mkdir(parents=True)
    server = RedisServer(farm_dir, persist=True)
    server.start()
    try:
        store, app = connect_farm(server.url, server.url)
        control.submit(store, spec, seed=4, campaign_id=campaign)
        dispatcher = ThreadDispatcher(store, synthetic_eval.factory(1), workers=2)
        Scheduler(store, dispatcher, campaign, options=SchedulerOptions(wait_s=0.1)).run()
        dispatcher.close()
        app.close()
    finally:
        server.stop()
    return farm_dir


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dir with two ended embedded runs and one run dir never submitted."""
    root = tmp_path_factory.mktemp("state")
    _embedded_run(root, "auto-run", _spec("auto"))
    _embedded_run(root, "manual-run", _spec("manual"))
    (root / RUNS / "empty-run" / "farm").mkdir(parents=True)  # its Redis never held a campaign
    return root


def test_embedded_runs_are_read_served_decided_and_left_stopped(
    state: Path, tmp_path: Path
) -> None:
    settings = Settings(state_dir=state, broker_url=None, redis_url=None)
    registry = DeploymentRegistry(tmp_path / "deployments")
    source = EmbeddedSource(settings)
    try:
        client = TestClient(create_app(source, TOKEN, deployments=registry))
        rows = client.get("/api/campaigns", headers=HEADERS).json()["campaigns"]
        assert [(r["id"], r["status"]) for r in rows] == [
            ("auto-run", "completed"),
            ("manual-run", "completed"),
        ]
        assert all(r["generation"] == 2 and r["evaluations"] > 0 for r in rows)
        history = client.get("/api/campaigns/auto-run/history", headers=HEADERS).json()
        assert [h["generation"] for h in history] == [0, 1, 2]
        graph = client.get("/api/campaigns/manual-run/lineage", headers=HEADERS).json()
        assert graph["nodes"] and graph["edges"]
        assert client.get("/api/campaigns/empty-run", headers=HEADERS).status_code == 404
        approved = client.post(
            "/api/campaigns/manual-run/approve", json={"note": "ok"}, headers=HEADERS
        )
        assert approved.status_code == 200 and approved.json()["version"] == 1, approved.text
        # Every Redis the source started for reading is up while it serves.
        assert all(
            answers_ping(locate_socket(state / RUNS / run / "farm"), timeout_s=1.0)
            for run in ("auto-run", "manual-run")
        )
    finally:
        source.close()
    assert not any(
        answers_ping(locate_socket(state / RUNS / run / "farm"), timeout_s=0.5)
        for run in ("auto-run", "manual-run", "empty-run")
    )
    # The decision went into the run's own persisted Redis: a new source reads it back.
    again = EmbeddedSource(settings)
    try:
        detail = TestClient(create_app(again, TOKEN)).get(
            "/api/campaigns/manual-run", headers=HEADERS
        )
        assert detail.json()["approval"] == "approved"
        assert detail.json()["decision"]["note"] == "ok"
    finally:
        again.close()
    assert [v.campaign for v in registry.index("demo").versions] == ["manual-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_dashboard_command_approves_into_the_state_dirs_registry(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _embedded_run(state, "cmd-run", _spec("manual"))
    port = _free_port()
    env = {
        **os.environ,
        "EVOFARM_STATE_DIR": str(state),
        "EVOFARM_DASHBOARD_TOKEN": TOKEN,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.pop("EVOFARM_BROKER_URL", None)
    env.pop("EVOFARM_REDIS_URL", None)
    code = "from evofarm.cli.main import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/login", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "no dashboard"
                time.sleep(0.2)
        request = urllib.request.Request(
            base + "/api/campaigns/cmd-run/approve",
            data=json.dumps({"note": "from the command"}).encode(),
            headers={**HEADERS, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["version"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert "evofarm dashboard on http://127.0.0.1:" in output
    (version,) = DeploymentRegistry(state / "deployments").index("demo").versions
    assert (version.campaign, version.note) == ("cmd-run", "from the command")
    # On exit the command stopped the Redis it started to read the run.
    assert not answers_ping(locate_socket(state / RUNS / "cmd-run" / "farm"), timeout_s=0.5)


def test_the_cli_and_the_dashboard_share_one_decision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    _embedded_run(state, "cli-run", _spec("manual"))
    monkeypatch.setenv("EVOFARM_STATE_DIR", str(state))
    monkeypatch.delenv("EVOFARM_BROKER_URL", raising=False)
    monkeypatch.delenv("EVOFARM_REDIS_URL", raising=False)
    get_settings.cache_clear()  # the settings are read once per process
    try:
        result = CliRunner().invoke(main.app, ["approve", "cli-run", "--note", "cli", "--by", "bo"])
        assert result.exit_code == 0, result.output
        assert "approved cli-run: deployed demo v1" in result.output  # the name, not the id
        source = EmbeddedSource(get_settings())
        try:
            client = TestClient(create_app(source, TOKEN, deployments=registry()))
            detail = client.get("/api/campaigns/cli-run", headers=HEADERS).json()
            assert detail["approval"] == "approved" and detail["decision"]["by"] == "bo"
            url = "/api/campaigns/cli-run/reject"
            again = client.post(url, json={"note": "x"}, headers=HEADERS)
            assert again.status_code == 409 and "approved, not pending" in again.json()["error"]
        finally:
            source.close()
    finally:
        get_settings.cache_clear()


def test_a_running_farm_that_stops_is_read_from_its_data(state: Path) -> None:
    live = RedisServer(state / RUNS / "auto-run" / "farm", persist=True, role="farm")
    live.start()
    source = EmbeddedSource(Settings(state_dir=state, broker_url=None, redis_url=None))
    try:
        assert source.store("auto-run").get_status("auto-run") == "completed"
        live.stop()  # the campaign's own farm stops when it ends
        assert source.store("auto-run").get_status("auto-run") == "completed"
    finally:
        source.close()
        live.stop()
    assert not answers_ping(locate_socket(state / RUNS / "auto-run" / "farm"), timeout_s=1.0)


def test_a_resumed_farm_takes_over_the_redis_the_source_reads(state: Path) -> None:
    settings = Settings(state_dir=state, broker_url=None, redis_url=None)
    source = EmbeddedSource(settings)
    statuses: list[str | None] = []
    done = threading.Event()

    def poll() -> None:  # the page's requests keep coming while the campaign resumes
        while not done.is_set():
            statuses.append(source.store("auto-run").get_status("auto-run"))
            time.sleep(0.1)

    try:
        assert source.store("auto-run").get_status("auto-run") == "completed"
        poller = threading.Thread(target=poll)
        poller.start()
        started = time.monotonic()
        with embedded_farm(settings, "auto-run", workers=0) as farm:
            waited = time.monotonic() - started
            assert farm.store.get_status("auto-run") == "completed"
            time.sleep(0.5)
        done.set()
        poller.join(30)
    finally:
        done.set()
        source.close()
    assert waited < 10  # handed over, not timed out
    assert statuses and set(statuses) == {"completed"}
