"""The candidate's whole filesystem: a minimal root it is pivoted into.

Instead of the host's tree with a few directories covered, the sandbox gets a
fresh ``tmpfs`` root holding only:

* the runtime: the system's shared libraries and binaries (``/usr``, and
  ``/lib``, ``/lib64``, ``/bin``, ``/sbin`` as on the host), the Python
  installation (``sys.prefix``, ``sys.base_prefix``) and evofarm's own package
  directory, never the project tree around it;
* what the job must read (``expose``: files or directories), at their own paths;
* ``/etc`` with only the dynamic loader's cache and the time zone;
* ``/dev`` with ``null``, ``zero``, ``full``, ``random`` and ``urandom``;
* ``/proc`` (the sandbox's init mounts its own over it; the kernel only lets
  it do so while a full ``/proc`` is visible in the namespace);
* ``/tmp``: the private, size-capped ``tmpfs`` with the working directory.

Everything is read-only except ``/tmp``. No home, no ``/root``, ``/run``,
``/var``, ``/sys`` (so no ``/sys/class/net``), no state directory, no suites.
The host's old root is detached after ``pivot_root(2)``, so no path leads
back to it.

All functions run in a freshly forked, single-threaded child that is alone in
its new mount namespace.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import evofarm
from evofarm.sandbox.child import isolation
from evofarm.sandbox.limits import SandboxLimits

#: System directories of the runtime (those that exist; merged-/usr links are kept as links).
SYSTEM_RUNTIME = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
#: The only files of /etc: the loader's cache (multiarch libraries) and the time zone.
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
DEVICES = ("null", "zero", "full", "random", "urandom")
#: Where the host's root hangs between pivot_root and its detachment.
OLD_ROOT = ".old-root"


def runtime_roots() -> list[Path]:
    """The directories a candidate cannot run without: Python and evofarm's package."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(evofarm.__file__).parent}
    return sorted({r.resolve() for r in roots if r.exists()})


def _outermost(paths: set[Path]) -> list[Path]:
    """``paths`` without those inside another one, parents first."""
    ordered = sorted(paths, key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for path in ordered:
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


def _mount_point(target: Path, *, directory: bool) -> None:
    """An empty directory (or file) at ``target`` to mount a tree on."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    if directory:
        target.mkdir(exist_ok=True, mode=0o755)
    else:
        target.touch(mode=0o644, exist_ok=True)


def build_root(
    stage: str,
    *,
    tmp_options: str,
    expose: tuple[str, ...],
    hidden: tuple[str, ...],
) -> list[str]:
    """Assemble the minimal root on a new ``tmpfs`` at ``stage`` and pivot into it.

    ``stage`` is any existing directory (it is covered, then becomes ``/``).
    ``hidden`` directories that happen to lie inside a kept one are covered by
    an empty read-only ``tmpfs``. The caller's cwd is ``/`` afterwards.

    Returns:
        What could not be done (``missing`` entries).

    Raises:
        OSError: the root could not be built or entered (fatal for the evaluation:
            the candidate would otherwise see the host's tree).
    """
    missing: list[str] = []
    links = {p: os.readlink(p) for p in SYSTEM_RUNTIME if os.path.islink(p)}
    system = {Path(p) for p in SYSTEM_RUNTIME if os.path.isdir(p) and p not in links}
    shown = {Path(e).resolve() for e in expose if os.path.exists(e)}
    keep = _outermost({*system, *runtime_roots(), *shown})
    extra = [Path(p) for p in ETC_FILES if os.path.exists(p)]
    extra += [Path("/dev", d) for d in DEVICES if os.path.exists(f"/dev/{d}")]
    # Clone first (open_tree follows a symlink such as /etc/localtime to its file):
    # once the stage covers /tmp, whatever lived there is out of reach.
    trees = [(p, p.is_dir(), isolation.clone_tree(str(p))) for p in [*keep, *extra]]
    inside_kept = ((n, Path(n).resolve()) for n in hidden)
    covered = [
        (n, r) for n, r in inside_kept if r.is_dir() and any(r.is_relative_to(k) for k in keep)
    ]
    proc = isolation.clone_tree("/proc")
    try:
        isolation.mount("tmpfs", stage, "tmpfs", isolation.MS_NOSUID, "size=1m,mode=0755")
        root = Path(stage)
        tmp = root / "tmp"
        tmp.mkdir(mode=0o755)
        isolation.mount(
            "tmpfs", str(tmp), "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV, tmp_options
        )
        for name, target in links.items():
            os.symlink(target, root / name.lstrip("/"))
        (root / "proc").mkdir(mode=0o555)
        isolation.attach_tree(proc, str(root / "proc"))
        for path, directory, fd in trees:  # parents first: /tmp's tmpfs is there for paths below
            inside = root / str(path).lstrip("/")
            _mount_point(inside, directory=directory)
            isolation.attach_tree(fd, str(inside))
        for name, real in covered:
            flags = isolation.MS_NOSUID | isolation.MS_NODEV | isolation.MS_RDONLY
            try:
                isolation.mount(
                    "tmpfs", str(root / str(real).lstrip("/")), "tmpfs", flags, "size=4k"
                )
            except OSError as exc:
                missing.append(f"hide {name}: {exc.strerror}")
        os.chdir(stage)
        (root / OLD_ROOT).mkdir(mode=0o700)
        isolation.pivot_root(".", OLD_ROOT)
    finally:
        for _path, _directory, fd in trees:
            os.close(fd)
        os.close(proc)
    os.chroot(".")  # the process's root is the new mount, not the path it was reached by
    os.chdir("/")
    isolation.detach(f"/{OLD_ROOT}")
    os.rmdir(f"/{OLD_ROOT}")
    try:
        isolation.set_readonly("/", True, recursive=True)
        # The id maps of the user namespace are written through /proc after this.
        isolation.set_readonly("/proc", False, recursive=False)
        isolation.set_readonly("/tmp", False, recursive=False)
    except OSError as exc:
        missing.append(f"readonly: the runtime stays writable ({exc.strerror})")
    return missing


def prepare_mounts(
    limits: SandboxLimits,
    hidden: tuple[str, ...],
    expose: tuple[str, ...],
    workdir_owner: int,
) -> tuple[str, list[str]]:
    """Make mount propagation private and pivot into the minimal root (:func:`build_root`).

    ``/tmp`` is a private ``tmpfs`` of ``limits.workdir_bytes`` owned by
    ``workdir_owner``, holding the empty working directory
    :data:`~evofarm.sandbox.child.isolation.SANDBOX_WORKDIR`. Run it where the
    runtime can still be reached (as root before dropping privileges, or as the
    worker inside its user namespace).

    Returns:
        ``(workdir, missing)``.

    Raises:
        OSError: propagation could not be made private, or the root not built
            (fatal: mounts would leak, or the candidate would see the host's tree).
    """
    isolation.mount(None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE, None)
    options = f"size={limits.workdir_bytes},mode=0700,uid={workdir_owner},gid={workdir_owner}"
    missing = build_root(isolation.SANDBOX_TMP, tmp_options=options, expose=expose, hidden=hidden)
    os.mkdir(isolation.SANDBOX_WORKDIR, 0o700)
    os.chown(isolation.SANDBOX_WORKDIR, workdir_owner, workdir_owner)
    return isolation.SANDBOX_WORKDIR, missing
