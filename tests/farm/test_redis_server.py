"""The private redis-server launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from evofarm.errors import StoreError
from evofarm.farm.redis_server import RedisServer, find_redis_server, locate_socket


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); check its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_find_redis_server_returns_an_executable() -> None:
    assert os.access(find_redis_server(), os.X_OK)


def test_start_ping_stop_leaves_nothing(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as server:
        pid = server.pid
        assert pid is not None and server.running()
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        assert server.celery_url.startswith("redis+socket:///")
        client.close()
    assert _wait_gone(pid)
    assert not server.socket_path.exists()
    server.stop()  # idempotent


def test_persistent_server_keeps_data_across_restarts(tmp_path: Path) -> None:
    with RedisServer(tmp_path, persist=True) as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        client.close()
    with RedisServer(tmp_path, persist=True) as server:
        client = redis.Redis.from_url(server.url)
        assert client.get("k") == b"v"
        client.close()


def test_long_directories_fall_back_to_a_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    assert locate_socket(deep) == deep / "redis.sock"
    with RedisServer(deep) as server:
        assert len(str(server.socket_path)) < 100
        assert locate_socket(deep) == server.socket_path  # other processes find it
        assert redis.Redis.from_url(server.url).ping()
    assert not server.socket_path.parent.exists()
    assert locate_socket(deep) == deep / "redis.sock"


def test_a_bad_binary_fails_clearly(tmp_path: Path) -> None:
    fake = tmp_path / "fake-redis"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(StoreError, match="exited with code 3"):
        RedisServer(tmp_path, binary=str(fake)).start(timeout=5)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_server_dies_with_its_parent(tmp_path: Path, sig: signal.Signals) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from evofarm.farm.redis_server import RedisServer
        s = RedisServer(Path({str(tmp_path)!r}))
        s.start()
        print(s.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    assert _alive(server_pid)
    parent.send_signal(sig)
    parent.wait(10)
    assert _wait_gone(server_pid)
