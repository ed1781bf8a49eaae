"""Loopback sockets for tests: a throwaway listener, and who holds a connection."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def loopback_listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """Listen on 127.0.0.1 (ephemeral port); yield ``(port, accepted)``.

    ``accepted`` grows with every connection made while the block runs; the
    listener and every accepted socket are closed on exit.
    """
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        server.close()
        for conn in accepted:
            conn.close()


def socket_inodes(local_port: int, remote_port: int) -> set[int]:
    """Inodes of the IPv4 TCP sockets from ``local_port`` to ``remote_port`` (Linux /proc)."""
    found: set[int] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == (
            remote_port
        ):
            found.add(int(inode))
    return found


def holders(inodes: set[int], pids: list[int]) -> list[int]:
    """Which of ``pids`` hold an open socket with one of ``inodes``."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    out: list[int] = []
    for pid in pids:
        if wanted & _fd_targets(pid):
            out.append(pid)
    return out


def _fd_targets(pid: int) -> set[str]:
    targets: set[str] = set()
    with contextlib.suppress(OSError):  # the process may be gone
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):  # or the fd closed meanwhile
                targets.add(os.readlink(fd))
    return targets
