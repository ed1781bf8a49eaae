"""The guard's decisions, called directly (an installed audit hook cannot be
removed, so it is only installed inside sandboxes)."""

from __future__ import annotations

import os

import pytest

from evofarm.sandbox.child.guard import Guard


@pytest.fixture
def guard(tmp_path: os.PathLike[str]) -> Guard:
    return Guard(str(tmp_path))


def test_writes_inside_the_workdir_and_reads_elsewhere_are_allowed(guard: Guard) -> None:
    inside = os.path.join(guard.workdir, "sub", "f.txt")
    guard._hook("open", (inside, "w", os.O_WRONLY | os.O_CREAT))
    guard._hook("open", ("/etc/hostname", "r", os.O_RDONLY))
    guard._hook("open", ("/dev/null", "w", os.O_WRONLY))
    guard._hook("open", (3, "r", os.O_RDONLY))  # an fd, not a path
    guard._hook("socket.__new__", (None, 1, 1, 0))  # creating is not connecting
    assert guard.attempts == []


@pytest.mark.parametrize(
    "event,args,what",
    [
        ("open", ("/etc/passwd", "a", os.O_WRONLY | os.O_APPEND), "writing outside"),
        ("open", ("/tmp/../etc/x", None, os.O_CREAT | os.O_WRONLY), "writing outside"),
        ("open", ("/etc/shadow", "r", os.O_RDONLY), "secret file"),
        ("open", ("/proc/1/environ", "rb", os.O_RDONLY), "another process"),
        ("socket.connect", (None, ("127.0.0.1", 6379)), "network"),
        ("socket.getaddrinfo", ("example.com", 80, 0, 0, 0), "network"),
    ],
)
def test_forbidden_attempts_are_refused_and_recorded(
    guard: Guard, event: str, args: tuple[object, ...], what: str
) -> None:
    with pytest.raises(PermissionError, match="forbidden"):
        guard._hook(event, args)
    assert len(guard.attempts) == 1
    assert what in guard.attempts[0]


def test_own_proc_entries_are_readable(guard: Guard) -> None:
    guard._hook("open", (f"/proc/{os.getpid()}/environ", "rb", os.O_RDONLY))
    guard._hook("open", ("/proc/self/status", "r", os.O_RDONLY))
    assert guard.attempts == []


def test_a_workdir_prefix_is_not_the_workdir(guard: Guard) -> None:
    with pytest.raises(PermissionError):
        guard._hook("open", (guard.workdir + "-evil/x", "w", os.O_WRONLY | os.O_CREAT))
