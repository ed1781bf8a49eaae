"""Whether this process is a sandboxed child (set by the child, never unset)."""

from __future__ import annotations

import threading

_inside = threading.Event()


def mark_inside_sandbox() -> None:
    """Called once by the sandboxed child before it runs a job."""
    _inside.set()


def inside_sandbox() -> bool:
    """True in a sandboxed child (where candidate code may run in-process)."""
    return _inside.is_set()
