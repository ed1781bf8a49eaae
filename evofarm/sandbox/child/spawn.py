"""The processes of one evaluation, forked from the zygote.

::

    zygote ── A: supervisor (host pid namespace; drops root, enters namespaces)
               └── B: sandbox init (pid 1 of a new pid namespace; mounts, limits)
                    └── C: the candidate (runs :func:`evofarm.sandbox.child.serve.serve`)

* **A** (for a root worker) builds the filesystem view as root in a private
  mount namespace, stops being root, unshares the namespaces, reports B's pid
  on the status pipe and waits for B. It exists because a new pid namespace
  only applies to the children of the process that made it.
* **B** mounts the namespace's ``/proc`` (only a process inside the pid
  namespace can), builds the filesystem view when the worker is not root,
  applies the limits, drops its capabilities and forks C. When C ends, B
  reports C's exit status and rusage on the status pipe (C never holds that
  pipe, so the candidate cannot forge it) and exits; as pid 1 its exit makes
  the kernel kill the whole namespace. Without a pid namespace B (and A, both
  child subreapers) kill whatever C left behind first.
* **C** is the candidate: a separate process so that signals aimed at it
  (``SIGXCPU``, its own ``kill``) act as usual, which they would not on a
  namespace init.

The status pipe carries small frames (under ``PIPE_BUF``, so atomic).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from pathlib import Path
from typing import Any, NoReturn

from evofarm.sandbox.child import isolation, rootfs
from evofarm.sandbox.child.serve import serve
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.wire import channel

# Sandbox processes that count against the candidate's RLIMIT_NPROC (A and B).
SUPERVISORS = 2


def children_of(pid: int) -> set[int]:
    """Pids whose parent is ``pid``, from ``/proc/*/stat`` (kernels without
    ``CONFIG_PROC_CHILDREN`` have no ``/proc/PID/task/TID/children``)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def kill_descendants() -> None:
    """SIGKILL and reap every descendant; needs ``PR_SET_CHILD_SUBREAPER`` so
    that orphans of orphans come back to this process and are found in turn."""
    me = os.getpid()
    while children := children_of(me):
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _keep_only_fds(keep: list[int]) -> None:
    """Close every descriptor but 0-2 and ``keep`` (made non-inheritable)."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
        os.set_inheritable(fd, False)
    os.closerange(low, 1 << 16)


def _redirect_stdio() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def _send_status(fd: int, message: dict[str, Any]) -> None:
    # OSError: the parent is gone or gave up, so there is nobody to tell.
    with contextlib.suppress(OSError):
        channel.send(fd, message)


def _set_parent_death_signal(expected_parent: int) -> None:
    # After every credential change: the kernel clears it on those.
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != expected_parent:
        os._exit(0)  # the parent died before the line above took effect


NO_NETWORK_PID = (
    "network: the candidate shares the worker's network (no network namespace)",
    "proc: /proc shows every process of the machine",
)
NO_MOUNTS = (
    "filesystem: the filesystem is writable wherever the candidate's uid may write",
    "workdir: the working directory's size is not capped",
)


def _isolate(spec: dict[str, Any], limits: SandboxLimits) -> tuple[str, bool, bool, list[str]]:
    """A's part of the isolation: ``(workdir, namespaced, mounted, missing)``."""
    hidden, expose = tuple(spec["hidden"]), tuple(spec.get("expose", ()))
    workdir = str(spec["workdir"])
    missing: list[str] = []
    mounted = False
    root = os.geteuid() == 0
    if root:
        os.chown(workdir, isolation.NOBODY, isolation.NOBODY)
    if spec["namespaces"] and root:
        try:
            isolation.unshare(isolation.CLONE_NEWNS)
        except OSError as exc:
            missing.append(f"mount namespace: unshare refused ({exc.strerror})")
        else:
            workdir, more = rootfs.prepare_mounts(limits, hidden, expose, isolation.NOBODY)
            missing += more
            mounted = True
    isolation.become_nobody()
    reason = (
        isolation.enter_namespaces()
        if spec["namespaces"]
        else "namespaces: disabled by configuration"
    )
    if reason is not None:
        missing += [reason, *NO_NETWORK_PID]
        if not mounted:
            missing += NO_MOUNTS
        if not root:
            missing.append(f"uid: the candidate runs as the worker's own uid {os.geteuid()}")
    return workdir, reason is None, mounted, missing


def supervise(spec: dict[str, Any], to_parent: int, from_parent: int, status: int) -> NoReturn:
    """Process A. Never returns.

    ``spec``: ``limits``; ``workdir`` (a host directory, used only when no
    mount namespace could be made); ``hidden`` and ``expose`` (see
    :func:`evofarm.sandbox.child.rootfs.prepare_mounts`); ``namespaces`` (bool:
    try them at all).

    A root worker builds the filesystem view as root in a first mount
    namespace (so it can reach the Python installation even under a ``0700``
    ``/root``), then becomes ``nobody`` and enters the unprivileged namespaces,
    whose copy of the mounts the kernel locks. A non-root worker enters the
    namespaces directly and B builds the view inside them.
    """
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it
        os.setsid()
        parent = os.getppid()
        limits = SandboxLimits.model_validate(spec["limits"])
        hidden, expose = tuple(spec["hidden"]), tuple(spec.get("expose", ()))
        workdir, namespaced, mounted, missing = _isolate(spec, limits)
        _set_parent_death_signal(parent)
        isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            if namespaced and not mounted:
                workdir, more = rootfs.prepare_mounts(limits, hidden, expose, isolation.INNER_ID)
                missing += more
            if namespaced:
                missing += isolation.mount_proc()
            sandbox_init(
                limits=limits,
                workdir=workdir,
                namespaced=namespaced,
                missing=missing,
                fds=(to_parent, from_parent, status),
                # Seen from inside a new pid namespace, the parent has pid 0.
                parent=0 if namespaced else me,
            )
        os.close(to_parent)
        os.close(from_parent)
        _send_status(status, {"type": "started", "pid": pid})
        os.waitpid(pid, 0)
        if not namespaced:
            # Without a pid namespace, processes that left B's tree were
            # re-parented to A (a subreaper): end them. With one, the kernel
            # already killed the namespace, whose /proc A could not read.
            kill_descendants()
    except BaseException as exc:
        _send_status(status, {"type": "error", "message": f"sandbox supervisor: {exc}"[:2000]})
    os._exit(0)


def sandbox_init(
    *,
    limits: SandboxLimits,
    workdir: str,
    namespaced: bool,
    missing: list[str],
    fds: tuple[int, int, int],
    parent: int,
) -> NoReturn:
    """Process B: limit, fork the candidate, report its end. Never returns."""
    to_parent, from_parent, status = fds
    try:
        _redirect_stdio()
        _keep_only_fds([to_parent, from_parent, status])
        os.chdir(workdir)
        os.umask(0o077)
        isolation.scrub_environment(workdir)
        if namespaced:
            isolation.drop_capabilities()
        else:
            isolation.prctl(isolation.PR_SET_NO_NEW_PRIVS, 1)
        isolation.apply_rlimits(limits, extra_processes=SUPERVISORS)
        isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)
        _set_parent_death_signal(parent)
        _send_status(status, {"type": "isolation", "missing": missing, "workdir": workdir})
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.close(status)
            _set_parent_death_signal(me)
            serve(to_parent, from_parent, workdir)
        # The candidate shares B's credentials: without this it could ptrace
        # B and write on the status pipe.
        isolation.prctl(isolation.PR_SET_DUMPABLE, 0)
        os.close(to_parent)
        os.close(from_parent)
        while True:
            try:
                reaped, wait_status, usage = os.wait4(-1, 0)
            except ChildProcessError:
                raise OSError(errno.ECHILD, "the candidate process vanished") from None
            if reaped == pid:
                break
        if not namespaced:
            # With a pid namespace, this init's exit makes the kernel kill the
            # rest; without one, this is the only cleanup.
            kill_descendants()
        _send_status(
            status,
            {
                "type": "exit",
                "status": wait_status,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "max_rss_bytes": usage.ru_maxrss * 1024,
            },
        )
    except BaseException as exc:
        _send_status(status, {"type": "error", "message": f"sandbox init: {exc}"[:2000]})
    os._exit(0)
