"""Several hosts, one cut: Redis, the scheduler and two workers in separate
network namespaces joined by veth links (made and removed here; skipped if not
root or without ``ip``).

The test process (the scheduler) stays in its own namespace; Redis, worker 1
and worker 2 each get one, and each is joined to Redis's by its own veth pair
on a private /30. Mid-campaign worker 1's link is cut (set down on Redis's
side: its packets vanish, no reset). Its unacknowledged tasks come back to
worker 2; nothing is lost or counted twice, and the best equals the in-process
best.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.farm import names
from evofarm.farm.app import make_celery_app
from evofarm.farm.redis_server import find_redis_server
from evofarm.farm.session import Farm, connect_farm
from evofarm.settings import Settings
from tests.integration.conftest import FARM_ENV, small_demo

from .conftest import assert_exact_counts, in_process_best, wait_until
from .test_redis_outage import _run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
    ),
]

REDIS_PORT = 6379


def _ip(*args: str, ns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True)


class Hosts:
    """The namespaces and links of one test; :meth:`remove` takes them all away."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:4]
        self.redis_ns = f"evf{tag}-r"
        self.worker_ns = [f"evf{tag}-w1", f"evf{tag}-w2"]
        self._tag = tag
        self._links: list[str] = []  # veth ends on the host side (gone with their peer)
        self._made: list[str] = []

    def _link(self, index: int, other: str | None) -> str:
        """Join Redis's namespace to ``other`` (None: this one); the address Redis has there."""
        mine, theirs = f"e{self._tag}r{index}", f"e{self._tag}x{index}"
        net = f"10.251.{index}"
        _ip("link", "add", mine, "type", "veth", "peer", "name", theirs)
        _ip("link", "set", mine, "netns", self.redis_ns)
        _ip("addr", "add", f"{net}.1/30", "dev", mine, ns=self.redis_ns)
        _ip("link", "set", mine, "up", ns=self.redis_ns)
        if other is not None:
            _ip("link", "set", theirs, "netns", other)
        else:
            self._links.append(theirs)
        _ip("addr", "add", f"{net}.2/30", "dev", theirs, ns=other)
        _ip("link", "set", theirs, "up", ns=other)
        return f"{net}.1"

    def make(self) -> tuple[str, list[str]]:
        """``(Redis's address for the scheduler, Redis's address for each worker)``."""
        for ns in (self.redis_ns, *self.worker_ns):
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
            self._made.append(ns)
            _ip("link", "set", "lo", "up", ns=ns)
        scheduler = self._link(0, None)
        return scheduler, [self._link(i + 1, ns) for i, ns in enumerate(self.worker_ns)]

    def cut(self, worker: int) -> None:
        """Take worker ``worker``'s link down on Redis's side."""
        _ip("link", "set", f"e{self._tag}r{worker + 1}", "down", ns=self.redis_ns)

    def remove(self) -> None:
        for ns in self._made:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        for link in self._links:
            subprocess.run(["ip", "link", "del", link], check=False, capture_output=True)


def _spawn(ns: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, *command],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _end(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[Hosts, Farm, list[subprocess.Popen[bytes]]]]:
    """Redis and two workers in their own namespaces; a farm connection from this one."""
    net = Hosts()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        scheduler_addr, worker_addrs = net.make()
        redis_cmd = [find_redis_server(), "--port", str(REDIS_PORT), "--bind", "0.0.0.0",
                     "--protected-mode", "no", "--save", "", "--appendonly", "no",
                     "--dir", str(tmp_path)]  # fmt: skip
        procs.append(_spawn(net.redis_ns, redis_cmd, dict(os.environ)))
        workers = []
        for i, (ns, addr) in enumerate(zip(net.worker_ns, worker_addrs, strict=True)):
            url = f"redis://{addr}:{REDIS_PORT}/0"
            env = {**os.environ, **FARM_ENV, "EVOFARM_BROKER_URL": url, "EVOFARM_REDIS_URL": url}
            command = [sys.executable, "-m", "celery", "-A", "workers", "worker",
                       "-Q", ",".join(names.QUEUES), "-P", "prefork", "-c", "2",
                       "-n", f"host{i + 1}@%h", "--without-gossip", "--without-mingle",
                       "--loglevel", "WARNING",
                       "--logfile", str(tmp_path / f"worker-{i}.log")]  # fmt: skip
            workers.append(_spawn(ns, command, env))
        procs += workers
        url = f"redis://{scheduler_addr}:{REDIS_PORT}/0"
        ping = make_celery_app(Settings(), broker_url=url)
        seen: set[str] = set()
        deadline = time.monotonic() + 90
        while not {"host1", "host2"} <= {n.split("@")[0] for n in seen}:
            assert time.monotonic() < deadline, f"workers not ready; see {tmp_path}"
            with contextlib.suppress(Exception):  # Redis may not listen yet
                seen |= {n for reply in ping.control.ping(timeout=0.5) or [] for n in reply}
        ping.close()
        store, app = connect_farm(url, url)
        farm = Farm(store, app)
        try:
            yield net, farm, workers
        finally:
            farm.close()
    finally:
        for proc in reversed(procs):
            _end(proc)
        net.remove()


def test_cutting_a_workers_link_loses_and_double_counts_nothing(
    hosts: tuple[Hosts, Farm, list[subprocess.Popen[bytes]]],
) -> None:
    net, farm, workers = hosts
    spec = small_demo(generations=4)
    best, status, reason = in_process_best(spec, seed=51)
    campaign = control.submit(farm.store, spec, seed=51)

    def fault() -> None:
        wait_until(
            lambda: (c := farm.store.load_checkpoint(campaign)) is not None and c.generation >= 1,
            what="generation 1",
        )
        net.cut(0)

    outcome, _ = _run(farm, campaign, fault)
    assert (outcome.status, outcome.reason) == (status, reason)  # type: ignore[attr-defined]
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)
    assert workers[0].poll() is None  # its link was cut, not the worker killed
