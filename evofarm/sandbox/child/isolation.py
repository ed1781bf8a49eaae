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
import os
import resource
import sys
from pathlib import Path

import evofarm
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

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
LINUX_CAPABILITY_VERSION_3 = 0x20080522

NOBODY = 65534
# The candidate's uid and gid inside its user namespace: not 0, so neither the
# candidate nor anything it executes is root there either.
INNER_ID = 1000
#: The private tmpfs; directories the candidate must still see (the Python
#: installation, ``expose``) are re-attached inside it when they live below /tmp.
SANDBOX_TMP = "/tmp"
#: The candidate's working directory (cwd, HOME, TMPDIR): always empty at start.
SANDBOX_WORKDIR = "/tmp/work"
# Emptied (a read-only tmpfs over them) in full isolation: places where a
# worker keeps secrets, sockets (the Redis unix socket) or other jobs' files.
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


def _essential_roots() -> list[Path]:
    """Directories the child cannot run without: Python and evofarm."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(evofarm.__file__).parent}
    return sorted({r.resolve() for r in roots if r.exists()})


def _protected_roots(expose: tuple[str, ...]) -> list[Path]:
    """Directories that stay visible below a covered one: the essential ones
    and whatever the job must read (``expose``)."""
    roots = {*_essential_roots(), *(Path(e).resolve() for e in expose)}
    return sorted(r for r in roots if r.exists())


def _cover(directory: Path, keep: list[Path], options: str, *, readonly: bool) -> None:
    """Mount an empty tmpfs over ``directory``, except ``keep`` (directories
    below it), which stay visible, read-only, through cloned mount trees."""
    trees = [(path, clone_tree(str(path))) for path in keep]
    try:
        mount("tmpfs", str(directory), "tmpfs", MS_NOSUID | MS_NODEV, options)
        for path, fd in trees:
            path.mkdir(parents=True, exist_ok=True, mode=0o755)
            attach_tree(fd, str(path))
        if readonly:
            flags = MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
            mount(None, str(directory), None, flags, None)
    finally:
        for _path, fd in trees:
            os.close(fd)


def prepare_mounts(
    limits: SandboxLimits,
    hidden: tuple[str, ...],
    expose: tuple[str, ...],
    workdir_owner: int,
) -> tuple[str, list[str]]:
    """Build the sandbox's filesystem view in the current (new) mount namespace.

    Makes mount propagation private and every mount read-only, puts a private,
    size-capped ``tmpfs`` owned by ``workdir_owner`` at :data:`SANDBOX_TMP`, with
    the empty working directory :data:`SANDBOX_WORKDIR` in it,
    and an empty read-only one over each ``hidden`` directory. The Python
    installation, evofarm and ``expose`` stay visible (read-only) even below
    a covered directory. Run it where those can still be reached (as root
    before dropping privileges, or as the worker).

    Returns:
        ``(workdir, missing)``.

    Raises:
        OSError: propagation could not be made private or the working
            directory not mounted (fatal: mounts would leak, or no workdir).
    """
    missing: list[str] = []
    mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    try:
        set_readonly("/", True, recursive=True)
        # The id maps of the user namespace are written through /proc after
        # this; the sandbox's init covers it with its own /proc later.
        set_readonly("/proc", False, recursive=False)
    except OSError as exc:
        missing.append(f"readonly: the filesystem stays writable ({exc.strerror})")
    protected = _protected_roots(expose)
    essential = _essential_roots()
    tmp = Path(SANDBOX_TMP)
    _cover(
        tmp,
        [p for p in protected if p.is_relative_to(tmp) and p != tmp],
        f"size={limits.workdir_bytes},mode=0700,uid={workdir_owner},gid={workdir_owner}",
        readonly=False,
    )
    # A directory of its own, so re-attached installs below /tmp (a project
    # checked out under /tmp) never show up in the candidate's working directory.
    os.mkdir(SANDBOX_WORKDIR, 0o700)
    os.chown(SANDBOX_WORKDIR, workdir_owner, workdir_owner)
    done: set[Path] = {tmp}
    for name in hidden:
        path = Path(name)
        try:
            if not path.is_dir() or path.resolve() in done:
                continue
        except OSError:
            continue
        real = path.resolve()
        done.add(real)
        if any(real.is_relative_to(p) for p in essential):
            missing.append(f"hide {name}: the sandbox needs what is in it")
            continue
        try:
            _cover(
                real,
                [p for p in protected if p.is_relative_to(real)],
                "size=64k,mode=0755",
                readonly=True,
            )
        except OSError as exc:
            missing.append(f"hide {name}: {exc.strerror}")
    return SANDBOX_WORKDIR, missing


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
