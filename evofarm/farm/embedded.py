"""The embedded farm: a private Redis and local worker processes, for one machine.

With no ``EVOFARM_BROKER_URL``, ``evofarm run`` starts one of these in the run's
state directory: a redis-server on a unix socket there (broker, result backend
and population store at once; append-only persistence so ``evofarm resume``
works after an interruption) and ``N`` Celery worker processes (one per core by
default) consuming every farm queue.

Nothing is left behind: every worker runs in its own process group and is tied
to this process with ``PR_SET_PDEATHSIG``; :meth:`EmbeddedFarm.stop` sends
SIGTERM to each group (a warm shutdown puts unacknowledged tasks back on their
queue), then SIGKILL to whatever is still there, then stops Redis.

A worker that exits on its own (a crash, an unrecoverable broker error while
Redis restarts) is started again by a supervising thread, at most
``RESPAWNS_PER_MINUTE`` times a minute per worker, so a campaign never ends up
with no one to run it while its scheduler waits.
:func:`signals_raise_interrupt` makes SIGTERM/SIGHUP unwind like Ctrl-C, so
``with EmbeddedFarm(...)`` cleans up on those too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType

from evofarm.errors import FarmError
from evofarm.farm import names
from evofarm.farm.app import make_celery_app
from evofarm.farm.redis_server import RedisServer, die_with_parent
from evofarm.settings import Settings
from evofarm.store.key_migration import migrate_keys
from evofarm.store.redis import connect

#: Seconds a worker gets for a warm shutdown before its group is SIGKILLed.
SHUTDOWN_GRACE_S = 10.0
#: The lock-file role of a farm's own Redis (see ``redis_server.LOCK``).
FARM = "farm"
#: How long a starting farm waits for a reader's Redis on its data to stop.
READER_WAIT_S = 30.0
#: How often the supervisor looks for workers that exited on their own.
SUPERVISE_EVERY_S = 0.5
#: Respawns of one worker within a minute before it is left down (a crash loop).
RESPAWNS_PER_MINUTE = 6

log = logging.getLogger(__name__)


def default_workers() -> int:
    """One worker process per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def group_members(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group ``pgid`` (Linux /proc)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@contextlib.contextmanager
def signals_raise_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt (main thread only)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    caught = (signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, handler) for s in caught}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class EmbeddedFarm:
    """A private Redis plus local Celery workers, started and stopped together.

    Start and stop it from one thread, the main one (signal handling requires it).

    Args:
        state_dir: the run's state directory; Redis lives in ``state_dir/farm``.
        workers: worker processes; default one per core.
        concurrency: pool size of each worker (processes or threads).
        pool: Celery pool (``prefork`` enforces time limits; ``threads`` is lighter).
        queues: queues the workers consume.
        env: extra environment for the workers (e.g. farm time limits).
        app: the Celery app module for ``celery -A``.
        broker_url: a broker other than the private Redis (e.g. ``amqp://`` for
            RabbitMQ); the private Redis stays the store and result backend.
        respawn: start a worker again when it exits on its own (see the module).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        workers: int | None = None,
        concurrency: int = 4,
        pool: str = "prefork",
        queues: Sequence[str] = names.QUEUES,
        env: Mapping[str, str] | None = None,
        app: str = "workers",
        broker_url: str | None = None,
        respawn: bool = True,
    ) -> None:
        if workers is not None and workers < 0:
            raise FarmError(f"workers must be >= 0, not {workers}")
        self.state_dir = Path(state_dir).resolve()
        self.farm_dir = self.state_dir / "farm"
        self.workers = default_workers() if workers is None else workers
        self.concurrency = concurrency
        self.pool = pool
        self.queues = list(queues)
        self.env = dict(env or {})
        self.app = app
        self._broker_url = broker_url
        self.redis = RedisServer(self.farm_dir, persist=True, role=FARM)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._tag = uuid.uuid4().hex[:8]
        self._respawn = respawn
        self._procs_lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        #: Workers started again after they exited on their own.
        self.respawns = 0

    @property
    def redis_url(self) -> str:
        """redis-py URL of the private Redis (the population store)."""
        return self.redis.url

    @property
    def broker_url(self) -> str:
        """Celery URL of the broker: the private Redis unless another was given."""
        return self._broker_url or self.redis.celery_url

    @property
    def worker_names(self) -> list[str]:
        """Celery node names of the workers (``local{i}-{tag}@host``)."""
        host = os.uname().nodename
        return [f"local{i}-{self._tag}@{host}" for i in range(len(self._procs))]

    def worker_env(self) -> dict[str, str]:
        """The environment the workers get: this one, pointed at the private Redis."""
        env = dict(os.environ)
        env.update(self.env)
        env["EVOFARM_BROKER_URL"] = self._broker_url or self.redis_url
        env["EVOFARM_REDIS_URL"] = self.redis_url
        return env

    def _worker_command(self, index: int) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", self.app, "worker",
            "-Q", ",".join(self.queues),
            "-P", self.pool,
            "-c", str(self.concurrency),
            "-n", f"local{index}-{self._tag}@%h",
            "--without-gossip", "--without-mingle",
            "--loglevel", "WARNING",
            "--logfile", str(self.farm_dir / f"worker-{index}.log"),
        ]  # fmt: skip

    def start(self) -> None:
        """Start Redis, then the workers (which connect as soon as they are up)."""
        self.farm_dir.mkdir(parents=True, exist_ok=True)
        # A command reading the stopped farm may hold its Redis for a moment.
        self.redis.start(lock_wait_s=READER_WAIT_S)
        try:
            self._migrate_keys()
            for index in range(self.workers):
                self.add_worker(index)
        except BaseException:
            self.stop()
            raise
        if self._respawn and self.workers:
            self._stopping.clear()
            self._supervisor = threading.Thread(
                target=self._supervise, name="evofarm-worker-supervisor", daemon=True
            )
            self._supervisor.start()

    def _supervise(self) -> None:
        """Start again, in place, each worker that exited while the farm runs.

        Runs on its own thread for the farm's life: respawned workers die with
        it (``PR_SET_PDEATHSIG``), which happens only once :meth:`stop` began.
        """
        recent: dict[int, deque[float]] = {}
        while not self._stopping.wait(SUPERVISE_EVERY_S):
            with self._procs_lock:
                if self._stopping.is_set():
                    return
                for index, proc in enumerate(self._procs):
                    if proc.poll() is None:
                        continue
                    starts = recent.setdefault(index, deque(maxlen=RESPAWNS_PER_MINUTE))
                    now = time.monotonic()
                    if len(starts) == RESPAWNS_PER_MINUTE and now - starts[0] < 60.0:
                        continue  # a crash loop: leave it down, its log says why
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)  # orphaned pool children
                    starts.append(now)
                    log.warning(
                        "worker %d exited with code %s; starting it again (see %s)",
                        index,
                        proc.returncode,
                        self.farm_dir / f"worker-{index}.log",
                    )
                    self._procs[index] = self._spawn(index)
                    self.respawns += 1

    def _migrate_keys(self) -> None:
        """Give a Redis kept from before the hash-tagged key layout today's names.

        So a campaign interrupted before an upgrade resumes after it; a no-op
        (one SCAN per old pattern) on a fresh or already migrated Redis.
        """
        client = connect(self.redis.url)
        try:
            migrate_keys(client)
        finally:
            client.close()

    def add_worker(self, index: int | None = None) -> subprocess.Popen[bytes]:
        """Start one more worker process; returns it."""
        with self._procs_lock:
            proc = self._spawn(len(self._procs) if index is None else index)
            self._procs.append(proc)
        return proc

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self._worker_command(index),
            env=self.worker_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group: Ctrl-C reaches us, we stop it in order
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only calls prctl
        )

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The worker processes started so far (main processes of each group)."""
        return list(self._procs)

    def all_pids(self) -> list[int]:
        """Every live process of the farm: Redis, workers and their pool children."""
        pids = [p for proc in self._procs for p in group_members(proc.pid)]
        if self.redis.pid is not None and self.redis.running():
            pids.append(self.redis.pid)
        return pids

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until every worker answers a broadcast ping.

        Raises:
            FarmError: a worker exited or did not answer within ``timeout``.
        """
        app = make_celery_app(
            Settings(), broker_url=self._broker_url or self.redis_url, backend_url=self.redis_url
        )
        expected = set(self.worker_names)
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        try:
            while time.monotonic() < deadline:
                dead = [p.pid for p in self._procs if p.poll() is not None]
                if dead:
                    raise FarmError(f"worker process(es) {dead} exited; see {self.farm_dir}")
                replies = app.control.ping(timeout=0.5) or []
                seen |= {name for reply in replies for name in reply}
                if expected <= seen:
                    return
            raise FarmError(f"workers not ready after {timeout:.0f}s: {sorted(expected - seen)}")
        finally:
            app.close()

    def stop(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """Stop every worker group, then Redis. Idempotent; never leaves a process."""
        with self._procs_lock:  # after a respawn in progress; the supervisor starts none after
            self._stopping.set()
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self._procs:
            remaining = max(0.0, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(remaining)
        for proc in self._procs:
            # Pool children may outlive a main process that was SIGKILLed.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            self._wait_group_gone(proc.pid)
        self._procs.clear()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        self.redis.stop()

    @staticmethod
    def _wait_group_gone(pgid: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def __enter__(self) -> EmbeddedFarm:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
