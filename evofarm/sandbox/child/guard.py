"""An audit hook that names forbidden attempts inside the sandboxed child.

The namespaces are what *stop* a candidate (no network device, read-only
filesystem, private /proc). This hook only makes the common attempts visible,
so the evaluation is classified ``forbidden`` instead of a vague error: it
refuses, with ``PermissionError``, network use, writes outside the working
directory and reads of a few secret-bearing files, and records each attempt.
Code that goes around Python (ctypes, a shell) is still contained by the
namespaces, just classified by what then fails.

Audit hooks cannot be removed once added (PEP 578), so the candidate cannot
switch this off from Python.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_NETWORK_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
    }
)
_SECRET_FILES = frozenset({"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/master.passwd"})
_PROC_PRIVATE = re.compile(r"^/proc/(\d+|thread-self)(/task/\d+)?/(environ|mem|maps|fd/.*)$")
_DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/tty"})


class Guard:
    """Records forbidden attempts; :meth:`install` makes it the process's hook.

    Not thread-safe in what it records (a list append is atomic enough for a
    diagnosis); the first attempt is the one reported.
    """

    def __init__(self, workdir: str) -> None:
        self.workdir = os.path.realpath(workdir)
        self.attempts: list[str] = []
        self._busy = False

    def install(self) -> None:
        """Add the hook to this process, for good."""
        sys.addaudithook(self._hook)

    def _refuse(self, what: str) -> None:
        self.attempts.append(what)
        raise PermissionError(f"forbidden in the sandbox: {what}")

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self._busy:
            return
        if event in _NETWORK_EVENTS:
            self._refuse(f"network access ({event})")
        if event != "open" or not args or not isinstance(args[0], str | bytes):
            return
        self._busy = True  # realpath itself must not re-enter the hook
        try:
            raw = os.fsdecode(args[0])
            path = os.path.realpath(raw)
        finally:
            self._busy = False
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        writing = bool(flags & _WRITE_FLAGS) or any(c in mode for c in "wax+")
        if writing and not self._inside(path) and path not in _DEVICES:
            self._refuse(f"writing outside the working directory ({raw})")
        if path in _SECRET_FILES:
            self._refuse(f"reading a secret file ({raw})")
        match = _PROC_PRIVATE.match(path)
        if match and match.group(1) not in (str(os.getpid()), "thread-self"):
            self._refuse(f"reading another process's private data ({raw})")

    def _inside(self, path: str) -> bool:
        return path == self.workdir or path.startswith(self.workdir.rstrip("/") + "/")
