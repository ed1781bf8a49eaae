"""Linux isolation primitives for the sandboxed child, through ``ctypes``.

Python 3.11 has no ``os.unshare``, and bubblewrap is not on every machine, so
the few syscalls are called directly: ``unshare(2)``, ``mount(2)``,
``mount_setattr(2)``, ``prctl(2)`` and ``capset(2)``. Nothing here needs
privileges beyond what an unprivileged user namespace grants.

Every setup step reports what it could not do as a string in a ``missing``
list instead of raising: the sandbox then runs in a *degraded* mode and the
evaluation record says which protection was absent (see
``docs/sandbox.md``). Only a failure that would leave the candidate with more
power than the worker (e.g. still root) is fatal.

All functions are meant to run in a freshly forked, single-threaded child.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import resource
from pathlib import Path

from evofarm.sandbox.limits import SandboxLimits

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
# The same numbers on every architecture (the unified syscall table).
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442
OPEN_TREE_CLONE = 0x1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MS_REMOUNT = 0x20
MNT_DETACH = 2
#: pivot_root(2) has no glibc wrapper and, unlike open_tree, no unified number.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
LINUX_CAPABILITY_VERSION_3 = 0x20080522

NOBODY = 65534
# The candidate's uid and gid inside its user namespace: not 0, so neither the
# candidate nor anything it executes is root there either.
INNER_ID = 1000
#: The private tmpfs (see :mod:`evofarm.sandbox.child.rootfs`).
SANDBOX_TMP = "/tmp"
#: The candidate's working directory (cwd, HOME, TMPDIR): always empty at start.
SANDBOX_WORKDIR = "/tmp/work"
# Places where a worker keeps secrets, sockets (the Redis unix socket) or other
# jobs' files: never in the sandbox's root, and covered should a kept directory hold one.
DEFAULT_HIDDEN: tuple[str, ...] = ("/run", "/var/run", "/var/tmp", "/dev/shm", "/root", "/home")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
_libc.syscall.restype = ctypes.c_long


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """``unshare(2)``. Raises ``OSError`` with the errno."""
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    """``mount(2)``. Raises ``OSError`` with the errno."""
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def set_readonly(path: str, readonly: bool, *, recursive: bool) -> None:
    """Set or clear read-only on the mount at ``path`` (and, if ``recursive``,
    every mount below it) with ``mount_setattr(2)``."""
    if readonly:
        attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    else:
        attr = _MountAttr(0, MOUNT_ATTR_RDONLY, 0, 0)
    _check(
        _libc.syscall(
            SYS_MOUNT_SETATTR,
            AT_FDCWD,
            path.encode(),
            AT_RECURSIVE if recursive else 0,
            ctypes.byref(attr),
            ctypes.sizeof(attr),
        ),
        f"mount_setattr {path}",
    )


def clone_tree(path: str) -> int:
    """A detached copy of the mount tree at ``path`` (``open_tree(2)``), as a
    descriptor that :func:`attach_tree` can mount elsewhere."""
    fd = _libc.syscall(
        SYS_OPEN_TREE, AT_FDCWD, path.encode(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"open_tree {path}: {os.strerror(err)}")
    return int(fd)


def attach_tree(fd: int, target: str) -> None:
    """Mount a tree from :func:`clone_tree` at ``target`` (``move_mount(2)``)."""
    _check(
        _libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH),
        f"move_mount {target}",
    )


def pivot_root(new_root: str, put_old: str) -> None:
    """``pivot_root(2)``. Raises ``OSError`` (also on an architecture whose number is unknown)."""
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, f"pivot_root: no syscall number for {platform.machine()}")
    _check(_libc.syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


def detach(path: str) -> None:
    """``umount2(path, MNT_DETACH)``: the mount and everything below it vanish."""
    _check(_libc.umount2(path.encode(), MNT_DETACH), f"umount {path}")


def prctl(option: int, arg: int = 0) -> None:
    """``prctl(2)`` with one argument."""
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl {option}")


def drop_capabilities() -> None:
    """Clear the effective, permitted and inheritable capability sets, and set
    ``no_new_privs`` so no executed file can give them back."""
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def become_nobody() -> None:
    """Stop being root: no supplementary groups, uid and gid ``nobody``.

    A no-op for a non-root worker, which cannot change uid: its candidates run
    as its own unprivileged uid (mapped to :data:`INNER_ID` in their user
    namespace when there is one).

    Raises:
        OSError: root could not drop its privileges (fatal: never run as root).
    """
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    # A uid change makes the process non-dumpable, which would make its own
    # /proc/self/{uid,gid}_map owned by root and unwritable.
    prctl(PR_SET_DUMPABLE, 1)


def enter_namespaces() -> str | None:
    """Enter new user, mount, network, pid, IPC and UTS namespaces.

    The new mount namespace is a copy of the current one whose mounts the
    kernel locks together (a process in the new user namespace cannot unmount
    one to reveal what it covers).

    The caller's uid and gid are mapped to :data:`INNER_ID`. The pid namespace
    applies to the caller's *next* child, which becomes its init.

    Returns:
        ``None`` on success, else why the platform refused.
    """
    outer_uid, outer_gid = os.geteuid(), os.getegid()
    try:
        unshare(NAMESPACES)
    except OSError as exc:
        return f"namespaces: unshare refused ({exc.strerror})"
    try:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{INNER_ID} {outer_uid} 1")
        Path("/proc/self/gid_map").write_text(f"{INNER_ID} {outer_gid} 1")
    except OSError as exc:
        # Half-entered namespaces with no id mapping: unusable, and we cannot
        # go back. Fatal for this evaluation; reported as a sandbox failure.
        raise OSError(exc.errno, f"user namespace id mapping failed: {exc.strerror}") from None
    return None


def mount_proc() -> list[str]:
    """Mount a ``/proc`` that shows only this pid namespace.

    Run by the pid namespace's init. Read-only and ``nosuid,nodev,noexec``:
    the kernel requires a new proc to be no less restricted than the locked
    one it covers.
    """
    try:
        mount("proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    except OSError as exc:
        return [f"proc: a private /proc could not be mounted ({exc.strerror})"]
    return []


def apply_rlimits(limits: SandboxLimits, extra_processes: int = 0) -> None:
    """Set the resource limits of :class:`SandboxLimits` on this process.

    ``extra_processes`` counts sandbox processes that share the candidate's
    process count (its supervisor) so the candidate gets ``max_processes``.
    """
    hard_cpu = limits.cpu_s + 1  # SIGXCPU at the soft limit, SIGKILL one second on
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, hard_cpu))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    nproc = limits.max_processes + extra_processes
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_bytes, limits.max_file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


SAFE_ENV: dict[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def scrub_environment(workdir: str) -> None:
    """Replace the environment with an allow-list: no keys, URLs or passwords."""
    os.environ.clear()
    os.environ.update(SAFE_ENV)
    os.environ["HOME"] = workdir
    os.environ["TMPDIR"] = workdir
