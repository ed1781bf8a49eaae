"""The embedded farm: private Redis + real worker processes, and nothing left behind."""

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

from evofarm import keys
from evofarm.farm import names
from evofarm.farm.app import make_celery_app
from evofarm.farm.embedded import EmbeddedFarm, group_members
from evofarm.settings import Settings
from evofarm.store.redis import connect

pytestmark = pytest.mark.integration


def _gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    """The pids still alive (not zombies) after waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    alive = pids
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@pytest.mark.slow
def test_workers_answer_tasks_and_stop_leaves_nothing(tmp_path: Path) -> None:
    with EmbeddedFarm(tmp_path, workers=2, concurrency=1) as farm:
        farm.wait_ready(timeout=60)
        pids = farm.all_pids()
        assert len(pids) >= 5  # redis + 2 x (main + one pool child)
        assert redis.Redis.from_url(farm.redis_url).ping()
        app = make_celery_app(Settings(), broker_url=farm.redis_url)
        results = [app.send_task(names.TASK_PING, args=[{"i": i}]) for i in range(6)]
        answers = [r.get(timeout=30) for r in results]
        assert [a["payload"]["i"] for a in answers] == list(range(6))
        del results  # their finalizers talk to the backend: before Redis stops
        app.close()
    assert _gone(pids) == []
    assert all(group_members(p.pid) == [] for p in farm.processes) or not farm.processes


def test_pickle_messages_are_refused(tmp_path: Path) -> None:
    with EmbeddedFarm(tmp_path, workers=1, concurrency=1, pool="threads") as farm:
        farm.wait_ready(timeout=60)
        app = make_celery_app(Settings(), broker_url=farm.redis_url)
        app.conf.accept_content = ["json", "pickle"]  # the sender may try; workers refuse
        pickled = app.send_task(names.TASK_PING, args=[{"p": 1}], serializer="pickle")
        plain = app.send_task(names.TASK_PING, args=[{"p": 2}])
        assert plain.get(timeout=30)["payload"] == {"p": 2}
        time.sleep(0.5)
        assert pickled.state == "PENDING"  # never executed
        del pickled, plain
        app.close()


_SCRIPT = """
import sys, time
from pathlib import Path
from evofarm.farm.embedded import EmbeddedFarm, signals_raise_interrupt
with signals_raise_interrupt(), EmbeddedFarm(Path({state!r}), workers=1, concurrency=1) as farm:
    farm.wait_ready(timeout=60)
    print(" ".join(map(str, farm.all_pids())), flush=True)
    try:
        time.sleep(120)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        raise
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_parent_signals_leave_no_process_behind(tmp_path: Path, sig: signal.Signals) -> None:
    script = textwrap.dedent(_SCRIPT.format(state=str(tmp_path)))
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert parent.stdout is not None
    line = parent.stdout.readline()
    pids = [int(p) for p in line.split()]
    assert len(pids) >= 3, line
    os.kill(parent.pid, sig)
    parent.wait(60)
    assert _gone(pids) == []


def test_a_redis_kept_from_before_the_tagged_keys_is_migrated_at_start(tmp_path: Path) -> None:
    old_meta = "evofarm:c:camp-1:meta"  # the layout before the hash tags
    with EmbeddedFarm(tmp_path, workers=0) as farm:
        client = connect(farm.redis_url)
        client.hset(old_meta, mapping={"status": "running", "spec": "{}"})
        client.close()
    with EmbeddedFarm(tmp_path, workers=0) as farm:  # the same persisted Redis, restarted
        client = connect(farm.redis_url)
        assert not client.exists(old_meta)
        assert client.hget(keys.campaign_meta("camp-1"), "status") == "running"
        client.close()


@pytest.mark.slow
def test_a_worker_that_exits_on_its_own_is_started_again(tmp_path: Path) -> None:
    with EmbeddedFarm(tmp_path, workers=1, concurrency=1, pool="threads") as farm:
        farm.wait_ready(timeout=60)
        victim = farm.processes[0]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        deadline = time.monotonic() + 30
        while farm.respawns == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert farm.respawns == 1
        (replacement,) = farm.processes
        assert replacement.pid != victim.pid
        farm.wait_ready(timeout=60)  # the same node name answers again
        pids = farm.all_pids()
    assert _gone(pids) == []
