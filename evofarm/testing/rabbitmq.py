"""A private RabbitMQ node for tests: its own node name, ports, epmd and data dir.

Never the machine's RabbitMQ service: the node listens on loopback ports chosen
free at start, keeps its mnesia database and logs under ``directory`` and talks
to an epmd of its own (started here, on its own port), so two test runs never
meet. Stop it (or use it as a context manager) to leave no process behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

#: Where Debian puts the real start script (``/usr/sbin/rabbitmq-server`` would
#: switch to the ``rabbitmq`` user, which cannot write the test's directory).
SERVER_SCRIPTS = (Path("/usr/lib/rabbitmq/bin/rabbitmq-server"),)


def find_rabbitmq_server() -> Path | None:
    """The rabbitmq-server start script, or None if RabbitMQ is not installed."""
    for path in SERVER_SCRIPTS:
        if path.is_file():
            return path
    found = shutil.which("rabbitmq-server")
    return Path(found) if found and shutil.which("epmd") else None


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RabbitMQNode:
    """One private RabbitMQ node (guest/guest, loopback only). Not thread-safe."""

    def __init__(self, directory: Path, binary: Path | None = None) -> None:
        found = binary or find_rabbitmq_server()
        if found is None:
            raise FileNotFoundError("rabbitmq-server is not installed")
        self.binary = found
        self.directory = Path(directory).resolve()
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"evofarm-{uuid.uuid4().hex[:8]}@localhost"
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """The AMQP URL of the node (``amqp://guest:guest@127.0.0.1:PORT//``)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.directory),  # the Erlang cookie lives here
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.directory / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.directory / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.directory / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.directory / "rabbitmq"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.directory / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(self.directory / "rabbitmq-env.conf"),
        )
        return env

    def _spawn(self, command: list[str], log: str) -> None:
        with (self.directory / log).open("ab") as out:
            self._procs.append(
                subprocess.Popen(
                    command,
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def start(self, timeout: float = 90.0) -> None:
        """Start epmd and the node; return once it accepts AMQP connections.

        Raises:
            RuntimeError: the node exited or did not answer within ``timeout``.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "enabled_plugins").write_text("[].\n")
        (self.directory / "rabbitmq.conf").write_text("loopback_users = none\n")
        (self.directory / "advanced.config").write_text("[].\n")
        (self.directory / "rabbitmq-env.conf").write_text("")
        self._spawn(["epmd", "-port", str(self.epmd_port)], "epmd.log")
        self._spawn([str(self.binary)], "server.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._procs):
                self.stop()
                raise RuntimeError(f"rabbitmq exited; see {self.directory / 'server.log'}")
            if self._answers():
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"rabbitmq did not answer within {timeout:.0f}s")

    def _answers(self) -> bool:
        """Whether the node answers the AMQP 0-9-1 header with a method frame
        (``connection.start``): only a booted broker does."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"AMQP\x00\x00\x09\x01")
                return sock.recv(1) == b"\x01"
        except OSError:
            return False

    def stop(self, grace: float = 20.0) -> None:
        """Stop the node, then its epmd (SIGTERM, SIGKILL after ``grace``). Idempotent."""
        for proc in reversed(self._procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()

    def __enter__(self) -> RabbitMQNode:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
