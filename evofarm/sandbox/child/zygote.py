"""A pre-imported template process that forks one sandbox per evaluation.

Starting a Python interpreter and importing pydantic and the pipeline
executor takes hundreds of milliseconds; forking an interpreter that already
has them takes about one. The zygote is that interpreter: started once per
worker process (lazily, with a scrubbed environment), it forks the supervisor
(:func:`evofarm.sandbox.child.spawn.supervise`) of each evaluation on request.

Why a separate process rather than ``os.fork()`` of the worker: the worker is
multi-threaded (cases run on threads, Celery has its own), and forking a
threaded process can deadlock the child on a lock another thread held. The
zygote is single-threaded. It is started with ``subprocess`` (not
``multiprocessing``), so it works from a daemonic Celery prefork child, which
``multiprocessing`` refuses to give children.

Protocol, over a ``SOCK_SEQPACKET`` socket pair: the parent sends one packet
(JSON spec) carrying three descriptors by ``SCM_RIGHTS`` (child-to-parent pipe,
parent-to-child pipe, status pipe); the zygote answers one packet
``{"pid": N}`` or ``{"error": "..."}``. End of file on the socket (the parent
died or closed it) ends the zygote.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import evofarm
from evofarm.errors import SandboxError
from evofarm.pipeline import step_types
from evofarm.registry import PLUGINS_ENV
from evofarm.sandbox.child.isolation import PR_SET_CHILD_SUBREAPER, SAFE_ENV, prctl
from evofarm.sandbox.child.spawn import children_of, supervise

# Imported in the template so that forked children start with them loaded.
PRELOAD = ("evofarm.sandbox.child.serve", "evofarm.pipeline.executor")
MAX_PACKET = 1 << 16
READY = b"ready"
STRAY_SWEEP_S = 1.0


def _import_if_present(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Only a module that does not exist is skipped; one that exists but
        # fails to import is a bug and stops the zygote.
        if exc.name is None or not name.startswith(exc.name):
            raise


def _preload() -> None:
    for name in PRELOAD:
        _import_if_present(name)
    # Step types (built-in and the farm's plugins) load lazily on a run's first
    # step; load them once here so every forked child starts with them.
    step_types.STEP_REGISTRY.load()


def _end_strays(supervisors: set[int]) -> None:
    """Kill every child of the zygote that is not a live supervisor it forked
    (those are adopted escapees); forget supervisors that have exited."""
    children = children_of(os.getpid())
    supervisors &= children
    for pid in children - supervisors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def serve(sock: socket.socket) -> None:
    """The zygote's loop: one fork per request, until end of file."""
    # Children are reaped by the kernel; each supervisor resets this.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # Processes that escape a degraded sandbox whose supervisor died are
    # re-parented here rather than to init, so they can still be ended.
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    supervisors: set[int] = set()
    sock.send(READY)
    last_sweep = 0.0
    while True:
        # Sweep when idle or at most once a second: it scans /proc, which
        # would otherwise add milliseconds to every spawn.
        idle = not select.select([sock], [], [], STRAY_SWEEP_S)[0]
        if idle or time.monotonic() - last_sweep >= STRAY_SWEEP_S:
            _end_strays(supervisors)
            last_sweep = time.monotonic()
        if idle:
            continue
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_PACKET, 3)
        except OSError:
            return
        if not data:
            return
        try:
            spec = json.loads(data)
            if len(fds) != 3:
                raise ValueError(f"expected 3 descriptors, got {len(fds)}")
            pid = os.fork()
        except (OSError, ValueError) as exc:
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"error": str(exc)}).encode())
            continue
        if pid == 0:
            sock.close()
            supervise(spec, fds[0], fds[1], fds[2])
        supervisors.add(pid)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())


def main() -> None:
    """Entry point: ``python -m evofarm.sandbox.child.zygote FD``."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    _preload()
    # Everything imported so far is permanent: a collection in a forked child
    # would otherwise write to every object and copy the whole heap.
    gc.collect()
    gc.freeze()
    serve(sock)


def _zygote_env() -> dict[str, str]:
    env = dict(SAFE_ENV)
    # glibc reserves a 64 MiB malloc arena per thread; under RLIMIT_AS those
    # reservations, not memory used, would make a batch of threaded cases hit
    # the memory limit. Two arenas keep the limit about what is really used.
    env["MALLOC_ARENA_MAX"] = "2"
    # The package may be importable only through the parent's sys.path.
    # The farm's plugins (trusted code the worker was started with) must register
    # their step types in the children too.
    paths = [str(Path(evofarm.__file__).resolve().parent.parent)]
    paths += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if PLUGINS_ENV in os.environ:
        env[PLUGINS_ENV] = os.environ[PLUGINS_ENV]
    return env


class Zygote:
    """The parent's handle on one zygote process. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner = os.getpid()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                # -P: no working directory on sys.path (a candidate's files
                # must never shadow a module); evofarm comes from PYTHONPATH.
                [sys.executable, "-P", "-m", "evofarm.sandbox.child.zygote", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                cwd="/",
                env=_zygote_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # Its own session: a Ctrl-C or a group kill aimed at the worker
                # must not kill it mid-request; it ends on end of file instead.
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._sock = ours
        ours.settimeout(60)
        try:
            hello = ours.recv(MAX_PACKET)
        except OSError as exc:
            self.close()
            raise SandboxError(f"the sandbox zygote did not start: {exc}") from None
        if hello != READY:
            self.close()
            raise SandboxError("the sandbox zygote did not start (see the worker's stderr)")
        ours.settimeout(10)

    @property
    def pid(self) -> int:
        """The zygote's pid."""
        return self._proc.pid

    def alive(self) -> bool:
        """True while the zygote runs and belongs to this process."""
        return self._owner == os.getpid() and self._proc.poll() is None

    def spawn(self, spec: dict[str, Any], fds: list[int]) -> int:
        """Fork a supervisor for ``spec`` with ``fds``; return its pid.

        Raises:
            SandboxError: the zygote is gone or refused.
        """
        with self._lock:
            try:
                socket.send_fds(self._sock, [json.dumps(spec).encode()], fds)
                reply = json.loads(self._sock.recv(MAX_PACKET) or b"{}")
            except (OSError, ValueError) as exc:
                raise SandboxError(f"the sandbox zygote failed: {exc}") from None
        if "pid" not in reply:
            raise SandboxError(f"the sandbox zygote refused: {reply.get('error', 'it exited')}")
        return int(reply["pid"])

    def close(self) -> None:
        """Stop the zygote (running evaluations are not affected)."""
        with contextlib.suppress(OSError):
            self._sock.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class _Slot:
    """This process's zygote: one per process, replaced when it died or when
    this process is a fork of the one that started it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.zygote: Zygote | None = None

    def get(self) -> Zygote:
        with self.lock:
            current = self.zygote
            if current is None or not current.alive():
                if current is not None and current._owner == os.getpid():
                    current.close()
                current = self.zygote = Zygote()
            return current

    def shutdown(self) -> None:
        with self.lock:
            if self.zygote is not None and self.zygote._owner == os.getpid():
                self.zygote.close()
            self.zygote = None


_slot = _Slot()


def get_zygote() -> Zygote:
    """This process's zygote, started on first use and restarted if it died
    (or if this process is a fork of the one that started it). Thread-safe."""
    return _slot.get()


def shutdown_zygote() -> None:
    """Stop this process's zygote, if any (tests, worker shutdown)."""
    _slot.shutdown()


if __name__ == "__main__":
    main()
