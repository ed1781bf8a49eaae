"""The production deployment files: compose, Dockerfile, systemd units, Redis AUTH."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml
from typer.testing import CliRunner

from evofarm.cli.main import app
from evofarm.errors import StoreError
from evofarm.farm.redis_server import find_redis_server
from evofarm.store.registry import open_shared_store

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {c.name for c in app.registered_commands}


def _compose() -> dict[str, object]:
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_compose_has_the_production_services() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert {"redis", "scheduler", "worker", "flower", "dashboard"} <= set(services)
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "--requirepass" in redis_cmd
    assert "EVOFARM_FLOWER_BASIC_AUTH" in services["flower"]["environment"]
    dashboard = services["dashboard"]
    # The token is required (compose refuses to start without it), the port stays on loopback.
    assert "EVOFARM_DASHBOARD_TOKEN:?" in dashboard["environment"]["EVOFARM_DASHBOARD_TOKEN"]
    assert all(str(p).startswith("127.0.0.1:") for p in dashboard["ports"])
    assert services["scheduler"]["deploy"]["replicas"] >= 2


@pytest.mark.parametrize("service", ["scheduler", "worker", "flower", "dashboard"])
def test_compose_commands_parse_as_evofarm_commands(service: str) -> None:
    command = _compose()["services"][service]["command"]
    assert command[0] == "evofarm" and command[1] in COMMANDS, command
    # Every option the service passes exists (--help only prints, after parsing all of them).
    result = CliRunner().invoke(app, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output


def test_the_image_installs_the_constrained_package_set() -> None:
    text = (ROOT / "ops" / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY pyproject.toml README.md constraints.txt" in text
    assert "pip install --no-cache-dir -c constraints.txt ." in text


@pytest.mark.parametrize(
    ("unit", "command"),
    [("evofarm-scheduler.service", "scheduler"), ("evofarm-flower.service", "flower"),
     ("evofarm-worker@.service", "worker")],
)  # fmt: skip
def test_systemd_units_run_evofarm_commands(unit: str, command: str) -> None:
    text = (ROOT / "ops" / "systemd" / unit).read_text(encoding="utf-8")
    assert f"evofarm {command}" in text and command in COMMANDS


def _docker_compose() -> list[str] | None:
    for argv in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(argv[0]) is None:
            continue
        probe = subprocess.run([*argv, "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return argv
    return None


def test_docker_compose_config_is_valid(tmp_path: Path) -> None:
    argv = _docker_compose()
    if argv is None:
        pytest.skip("docker compose is not installed")
    env_file = tmp_path / ".env"
    env_file.write_text(
        "EVOFARM_REDIS_PASSWORD=pw\nEVOFARM_FLOWER_BASIC_AUTH=ops:pw\nEVOFARM_DASHBOARD_TOKEN=t\n"
    )
    result = subprocess.run(
        [*argv, "--env-file", str(env_file), "-f", str(ROOT / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A private redis-server on a loopback TCP port that requires a password."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    password = "correct-horse"
    proc = subprocess.Popen(
        [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--requirepass",
         password, "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=port, password=password, socket_timeout=1).ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        yield port, password
    finally:
        proc.terminate()
        proc.wait(10)


def test_redis_auth_urls_reach_the_store_and_bad_passwords_are_store_errors(
    redis_with_password: tuple[int, str],
) -> None:
    port, password = redis_with_password
    store = open_shared_store(f"redis://:{password}@127.0.0.1:{port}/0")
    try:
        store.create_campaign("auth-check", {"spec": {}})
        assert store.get_status("auth-check") == "submitted"
    finally:
        store.close()
    wrong = open_shared_store(f"redis://:wrong@127.0.0.1:{port}/0")
    try:
        with pytest.raises(StoreError):
            wrong.get_status("auth-check")
    finally:
        wrong.close()
