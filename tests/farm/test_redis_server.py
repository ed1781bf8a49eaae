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

from evofarm.errors import ServerBusy, StoreError
from evofarm.farm.redis_server import (
    RedisServer,
    directory_served,
    find_redis_server,
    locate_socket,
    lock_holder,
)


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


def test_one_server_per_directory_and_the_lock_names_its_role(tmp_path: Path) -> None:
    assert not directory_served(tmp_path)
    with RedisServer(tmp_path, persist=True, role="farm") as first:
        assert directory_served(tmp_path) and lock_holder(tmp_path) == "farm"
        second = RedisServer(tmp_path, persist=True, role="reader")
        with pytest.raises(ServerBusy, match="farm"):
            second.start(lock_wait_s=0.2)
        assert not second.running()
        assert redis.Redis(unix_socket_path=str(first.socket_path)).ping()
    assert not directory_served(tmp_path)
    with RedisServer(tmp_path, persist=True, role="reader"):
        assert lock_holder(tmp_path) == "reader"


def test_a_waiting_server_starts_once_the_other_stops(tmp_path: Path) -> None:
    first = RedisServer(tmp_path, persist=True)
    first.start()
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from evofarm.farm.redis_server import RedisServer
        s = RedisServer(Path({str(tmp_path)!r}), persist=True, role="next")
        s.start(lock_wait_s=20)
        print("up", flush=True)
        s.stop()
        """
    )
    waiting = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert waiting.poll() is None  # still waiting for the lock
    first.stop()
    out, _ = waiting.communicate(timeout=30)
    assert out.strip() == "up"


def test_the_lock_lives_as_long_as_the_server_process(tmp_path: Path) -> None:
    # A SIGKILLed starter leaves its server flushing for a moment: nobody may start another.
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from evofarm.farm.redis_server import RedisServer
        s = RedisServer(Path({str(tmp_path)!r}), persist=True)
        s.start()
        print(s.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    os.kill(server_pid, signal.SIGSTOP)  # keep it from dying with its parent for now
    parent.kill()
    parent.wait(10)
    try:
        assert directory_served(tmp_path)  # the stopped server still holds it
    finally:
        os.kill(server_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while directory_served(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)  # released once its last thread is gone
    assert not directory_served(tmp_path)


def test_a_restart_after_the_server_died_keeps_the_lock(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, persist=True)
    server.start()
    try:
        pid = server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while server.running() and time.monotonic() < deadline:
            time.sleep(0.02)  # reaped once all its threads are gone
        assert not server.running()
        assert directory_served(tmp_path)  # ours still: nobody else takes the data
        server.start()
        assert server.running() and redis.Redis(unix_socket_path=str(server.socket_path)).ping()
    finally:
        server.stop()
    assert not directory_served(tmp_path)
