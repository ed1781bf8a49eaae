"""Redis with TLS and AUTH (``rediss://:PASSWORD@host:port/0?ssl_ca_certs=...``), end to end.

A CA and a server certificate made with ``openssl`` in tmp, a private
redis-server with only a TLS port and a password, real workers and the
scheduler on the same URL (broker, result backend and store): the campaign gets
the in-process best with exact counts. A wrong password, or a client that does
not trust the CA, is a StoreError.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from evofarm.campaign import control
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.campaign.scheduler.driver import Scheduler
from evofarm.errors import StoreError
from evofarm.farm import names
from evofarm.farm.app import make_celery_app
from evofarm.farm.redis_server import find_redis_server
from evofarm.farm.session import Farm, connect_farm
from evofarm.settings import Settings
from evofarm.store.registry import open_shared_store
from evofarm.testing.rabbitmq import free_port
from tests.faults.conftest import assert_exact_counts, in_process_best
from tests.faults.test_redis_outage import FAST
from tests.integration.conftest import FARM_ENV, small_demo

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed"),
]

PASSWORD = "tls-horse"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(directory: Path) -> None:
    """ca.crt, and server.crt/server.key signed by it for IP 127.0.0.1 (EC keys: fast)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
             "-subj", "/CN=evofarm test CA", cwd=directory)  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=directory)  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "san.ext",
             cwd=directory)  # fmt: skip
    (directory / "server.key").chmod(0o600)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``(url, directory)`` of a private redis-server: TLS port only, password required."""
    directory = tmp_path_factory.mktemp("tls")
    _certificates(directory)
    port = free_port()
    proc = subprocess.Popen(
        [find_redis_server(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.crt", "--tls-key-file", "server.key",
         "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no",
         "--requirepass", PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(directory)],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={directory / 'ca.crt'}"
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.skip("this redis-server has no TLS support")
            try:
                redis.Redis.from_url(url, socket_timeout=1).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url, directory
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def tls_farm(tls_redis: tuple[str, Path]) -> Iterator[Farm]:
    """Two real workers whose broker, backend and store are the TLS Redis."""
    url, directory = tls_redis
    env = {**os.environ, **FARM_ENV, "EVOFARM_BROKER_URL": url, "EVOFARM_REDIS_URL": url}

    def worker(i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q",
             ",".join(names.QUEUES), "-P", "prefork", "-c", "2", "-n", f"tls{i}@%h",
             "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
             "--logfile", str(directory / f"worker-{i}.log")],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    procs = [worker(0), worker(1)]
    store, app = connect_farm(url, url)
    try:
        ping = make_celery_app(Settings(), broker_url=url, backend_url=url)
        deadline = time.monotonic() + 90
        seen: set[str] = set()
        while len(seen) < len(procs):
            assert time.monotonic() < deadline, f"workers not ready; see {directory}"
            assert all(p.poll() is None for p in procs), f"a worker exited; see {directory}"
            seen |= {name for reply in ping.control.ping(timeout=0.5) or [] for name in reply}
        ping.close()
        yield Farm(store, app)
    finally:
        store.close()
        app.close()
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_a_campaign_runs_over_tls_with_auth(tls_farm: Farm) -> None:
    assert tls_farm.app.conf.broker_url.startswith("rediss://")
    spec = small_demo(generations=3)
    best, status, reason = in_process_best(spec, seed=41)
    campaign = control.submit(tls_farm.store, spec, seed=41)
    outcome = Scheduler(tls_farm.store, tls_farm.dispatcher(), campaign, options=FAST).run()
    assert (outcome.status, outcome.reason) == (status, reason)
    top = best_genome_id(tls_farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(tls_farm, campaign)


def test_a_wrong_password_or_an_untrusted_server_is_a_store_error(
    tls_redis: tuple[str, Path],
) -> None:
    url, _ = tls_redis
    for bad in (url.replace(PASSWORD, "wrong"), url.split("?")[0]):  # no CA: not trusted
        store = open_shared_store(bad)
        try:
            with pytest.raises(StoreError):
                store.get_status("anything")
        finally:
            store.close()
