"""``evofarm worker`` / ``evofarm flower``: option checks and joining an embedded farm."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.cli import farm_cmd
from evofarm.cli.main import app
from evofarm.errors import UserInputError
from evofarm.farm import names
from evofarm.farm.app import make_celery_app
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.settings import Settings, get_settings

runner = CliRunner()


def test_parse_queues() -> None:
    assert farm_cmd.parse_queues("evaluate, breed") == ["evaluate", "breed"]
    with pytest.raises(UserInputError, match="unknown queue"):
        farm_cmd.parse_queues("evaluate,celery")
    with pytest.raises(UserInputError):
        farm_cmd.parse_queues(" , ")


def test_worker_argv() -> None:
    argv = farm_cmd.worker_argv(["evaluate"], 3, "threads", "INFO", "w1@%h")
    assert argv[1:6] == ["-m", "celery", "-A", "workers", "worker"]
    assert argv[6:8] == ["-Q", "evaluate"]
    assert "-c" in argv and "3" in argv and "w1@%h" in argv


def test_bad_options_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOFARM_BROKER_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["worker", "--queues", "nope"])
        assert result.exit_code == 2 and "unknown queue" in result.output
        result = runner.invoke(app, ["worker", "--pool", "gevent"])
        assert result.exit_code == 2 and "unknown pool" in result.output
        result = runner.invoke(app, ["flower", "--state-dir", str(tmp_path)])
        assert result.exit_code == 2 and "no farm to join" in result.output
    finally:
        get_settings.cache_clear()


def _spawn_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``evofarm ARGS`` in its own session, with no EVOFARM_* settings inherited
    (only those of ``env``).

    The command must find the farm from ``--state-dir`` alone, as a user's would.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOFARM_")} | (env or {})
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "evofarm"), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.mark.integration
@pytest.mark.slow
def test_worker_joins_the_embedded_farm_of_a_state_dir(tmp_path: Path) -> None:
    with EmbeddedFarm(tmp_path, workers=0) as farm:
        proc = _spawn_cli(
            "worker", "--pool", "solo", "--state-dir", str(tmp_path), "--loglevel", "WARNING"
        )
        try:
            celery = make_celery_app(Settings(), broker_url=farm.redis_url)
            result = celery.send_task(names.TASK_PING, args=[{"x": 1}])
            reply = result.get(timeout=60)
            del result  # its finalizer talks to the backend: before Redis stops
            assert reply["payload"] == {"x": 1}
            assert reply["worker"].endswith(f":{proc.pid}")  # exec'd: same pid
            celery.close()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


@pytest.mark.integration
@pytest.mark.slow
def test_flower_serves_this_farm(tmp_path: Path) -> None:
    with EmbeddedFarm(tmp_path, workers=1, concurrency=1, pool="threads") as farm:
        farm.wait_ready(timeout=60)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = _spawn_cli(
            "flower", "--state-dir", str(tmp_path), "--port", str(port),
            env={"EVOFARM_FLOWER_BASIC_AUTH": "ops:s3cret"},
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/workers"
        login = "Basic " + base64.b64encode(b"ops:s3cret").decode()
        try:
            page = ""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and farm.worker_names[0] not in page:
                try:
                    request = urllib.request.Request(url, headers={"Authorization": login})
                    with urllib.request.urlopen(request, timeout=5) as r:
                        page = r.read().decode()
                except OSError:
                    time.sleep(0.5)
            assert farm.worker_names[0] in page
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url, timeout=5)
            assert refused.value.code == 401
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def test_flower_requires_a_login_off_loopback() -> None:
    with pytest.raises(UserInputError, match="EVOFARM_FLOWER_BASIC_AUTH"):
        farm_cmd.flower_auth("0.0.0.0", None, no_auth=False)
    with pytest.raises(UserInputError, match="EVOFARM_FLOWER_BASIC_AUTH"):
        farm_cmd.flower_auth("0.0.0.0", None, no_auth=True)  # --no-auth is loopback-only
    with pytest.raises(UserInputError, match="user:password"):
        farm_cmd.flower_auth("0.0.0.0", "no-colon", no_auth=False)
    assert farm_cmd.flower_auth("0.0.0.0", "ops:pw,ro:pw2", no_auth=False) == "ops:pw,ro:pw2"
    made = farm_cmd.flower_auth("127.0.0.1", None, no_auth=False)
    assert made is not None and made.startswith("evofarm:") and len(made) > 16
    assert farm_cmd.flower_auth("::1", None, no_auth=True) is None
