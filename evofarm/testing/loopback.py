"""A throwaway TCP listener on loopback, for tests that check who connects."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


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
