"""Hostile candidates for a real farm worker, and the checks each case ends with.

The cases are those of ``tests/security/test_hostile.py``, each wrapped in a
pipeline (a ``python`` step on the case's input), so that they reach the
sandbox the way evolution's candidates do: through ``evofarm.evaluate`` on a
worker. A probe whose attack fails quietly (spawning a shell to see who it is,
killing its parent) reports what it saw by raising, the one channel a
candidate has into the failure museum.

Helpers:
    * :class:`Target`: what the hostile code aims at (the worker's pid, its
      settings file, the farm's Redis socket, a loopback listener ...).
    * :data:`CASES`: the cases with their sandbox limits and expected failure.
    * :func:`worker_tree`, :func:`settled_tree`: the worker's processes at rest.
    * :func:`escaped_children`: processes re-parented to this (subreaper) process.
    * :func:`redis_text`: every value in a Redis database, for secret scans.
"""

from __future__ import annotations

import contextlib
import os
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import redis

from evofarm.sandbox.child.isolation import PR_SET_CHILD_SUBREAPER, prctl
from evofarm.sandbox.limits import MIB

#: Secrets the worker holds in its environment; no candidate may surface them.
SECRET = "sk-test-secret-e4c1d7a2b9"
REDIS_PASSWORD = "redis-pass-5f03c8e1"
SECRET_ENV = {"ANTHROPIC_API_KEY": SECRET, "REDISCLI_AUTH": REDIS_PASSWORD}

#: Small limits every case runs under unless it overrides some. A case stopped
#: by a CPU or memory limit gets a roomier wall timeout: on a loaded machine a
#: CPU second can take several wall seconds, and the right class must win.
TIGHT: dict[str, Any] = {
    "wall_timeout_s": 3.0,
    "cpu_s": 2,
    "memory_bytes": 256 * MIB,
    "max_processes": 16,
    "max_file_bytes": 4 * MIB,
    "workdir_bytes": 16 * MIB,
}


@dataclass(frozen=True)
class Target:
    """What hostile code aims at, on this machine."""

    worker_pid: int
    settings_file: Path
    redis_socket: Path
    listener_port: int
    planted: tuple[Path, ...]
    campaign_dir: Path  # the seed, its suite (expected outputs) and other files


@dataclass(frozen=True)
class HostileCase:
    """One hostile candidate and how the farm must classify it.

    Attributes:
        name: test id.
        pipeline: the candidate's pipeline YAML for a target.
        outcome: the expected evaluation outcome (full isolation).
        reason: text the recorded reason must contain.
        limits: sandbox limits replacing those of :data:`TIGHT`.
        degraded: the outcomes accepted in the degraded mode; empty means the
            case needs full isolation (documented gaps of the degraded mode).
    """

    name: str
    pipeline: Callable[[Target], str]
    outcome: str
    reason: str
    limits: dict[str, Any] = field(default_factory=dict)
    degraded: frozenset[str] = frozenset()


def python_pipeline(code: str, **values: object) -> str:
    """A pipeline whose one ``python`` step runs ``code`` on the case's text.

    ``$name`` in ``code`` becomes ``repr(values[name])`` (a Python literal).
    """
    code = Template(code).substitute({k: repr(v) for k, v in values.items()})
    return (
        "name: hostile\ninputs: {text: ''}\nsteps:\n"
        "  - name: attack\n    type: python\n    input: '{{inputs.text}}'\n    code: |\n"
        + textwrap.indent(code, "      ")
    )


def _py(code: str) -> Callable[[Target], str]:
    return lambda _target: python_pipeline(code)


def _writes_outside(t: Target) -> str:
    return python_pipeline(
        "def run(v):\n"
        "    for path in $paths:\n"
        "        try:\n"
        "            with open(path, 'w') as f:\n"
        "                f.write('owned')\n"
        "        except OSError:\n"
        "            pass\n",
        paths=[str(p) for p in t.planted],
    )


def _reads_secret_files(t: Target) -> str:
    paths = [str(t.settings_file), "/etc/shadow", f"/proc/{t.worker_pid}/environ"]
    return python_pipeline(
        "import subprocess\n"
        "def run(v):\n"
        "    seen = []\n"
        "    for p in $paths:\n"
        "        try:\n"
        "            seen.append(open(p).read())\n"
        "        except Exception as exc:\n"
        "            seen.append(repr(exc))\n"
        "    shell = subprocess.run(['cat', *$paths], capture_output=True, text=True)\n"
        "    raise RuntimeError(repr(seen + [shell.stdout, shell.stderr]))\n",
        paths=paths,
    )


def _reads_environments(t: Target) -> str:
    return python_pipeline(
        "import os, re, subprocess\n"
        "def run(v):\n"
        "    found = [repr(dict(os.environ))]\n"
        "    shell = subprocess.run(\n"
        "        ['sh', '-c', 'env; cat /proc/*/environ /proc/$pid/environ'],\n"
        "        capture_output=True, text=True)\n"
        "    found += [shell.stdout, shell.stderr]\n"
        "    for entry in os.listdir('/proc'):\n"
        "        if entry.isdigit():\n"
        "            try:\n"
        "                found.append(open(f'/proc/{entry}/environ', 'rb').read().decode())\n"
        "            except Exception as exc:\n"
        "                found.append(repr(exc))\n"
        "    text = '\\n'.join(found)\n"
        "    raise RuntimeError(repr(re.findall(r'(?:KEY|AUTH|PASS)\\w*=[^\\x00\\n]*', text)))\n",
        pid=t.worker_pid,
    )


def _opens_sockets(t: Target) -> str:
    return python_pipeline(
        "import socket\n"
        "def run(v):\n"
        "    errors = []\n"
        "    targets = [(socket.AF_UNIX, $redis), (socket.AF_INET, ('127.0.0.1', $port)),\n"
        "               (socket.AF_INET, ('192.0.2.1', 80))]\n"
        "    for family, address in targets:\n"
        "        s = socket.socket(family, socket.SOCK_STREAM)\n"
        "        s.settimeout(1)\n"
        "        try:\n"
        "            s.connect(address)\n"
        "            s.sendall(b'PING\\r\\n')\n"
        "            errors.append(s.recv(100).decode())\n"
        "        except OSError as exc:\n"
        "            errors.append(repr(exc))\n"
        "        finally:\n"
        "            s.close()\n"
        "    return errors\n",
        redis=str(t.redis_socket),
        port=t.listener_port,
    )


def _kills_parent(t: Target) -> str:
    return python_pipeline(
        "import os, signal\n"
        "def run(v):\n"
        "    for target in ($pid, os.getppid(), -1):\n"
        "        try:\n"
        "            os.kill(target, signal.SIGKILL)\n"
        "        except OSError:\n"
        "            pass\n"
        "    raise RuntimeError('survived the kill')\n",
        pid=t.worker_pid,
    )


#: A pipeline file that runs itself; written next to the campaign's seed, but
#: not one of the campaign's pipeline files (no seed names it), so a candidate
#: naming it is refused before any recursion (the depth limit itself is tested
#: in tests/security/test_hostile.py).
OUROBOROS = (
    "name: ouroboros\nsteps:\n  - {name: again, type: pipeline, pipeline_file: ouroboros.yaml}\n"
)


def _peeks_at_its_suite(t: Target) -> str:
    # Whatever it finds is raised, so it would show in the stored reason.
    paths = [str(t.campaign_dir / "suite.yaml"), str(t.campaign_dir), str(Path.home()),
             "/sys/class/net", str(t.settings_file.parent)]  # fmt: skip
    return python_pipeline(
        "import os\n"
        "def run(v):\n"
        "    seen = []\n"
        "    for p in $paths:\n"
        "        try:\n"
        "            seen.append(os.listdir(p) if os.path.isdir(p) else open(p).read())\n"
        "        except OSError as exc:\n"
        "            seen.append(type(exc).__name__)\n"
        "    raise RuntimeError('seen:' + repr(seen) + ':end')\n",
        paths=paths,
    )


def _recurses(_t: Target) -> str:
    return OUROBOROS


CASES = [
    HostileCase(
        "infinite_loop",
        _py("def run(v):\n    while True:\n        pass\n"),
        outcome="cpu_limit",
        reason="CPU limit",
        limits={"cpu_s": 1, "wall_timeout_s": 10.0},
        degraded=frozenset({"cpu_limit"}),
    ),
    HostileCase(
        "sleep_an_hour",
        _py("import time\ndef run(v):\n    time.sleep(3600)\n"),
        outcome="timeout",
        reason="timeout",
        limits={"wall_timeout_s": 2.0},
        degraded=frozenset({"timeout"}),
    ),
    HostileCase(
        "memory_bomb",
        _py(
            "def run(v):\n    hoard = []\n    while True:\n        hoard.append(bytearray(10**7))\n"
        ),
        outcome="memory_limit",
        reason="MemoryError",
        limits={"cpu_s": 5, "wall_timeout_s": 10.0},
        degraded=frozenset({"memory_limit"}),
    ),
    HostileCase(
        "fork_bomb",
        _py("import os\ndef run(v):\n    while True:\n        os.fork()\n"),
        outcome="process_limit",
        reason="Resource temporarily unavailable",
        degraded=frozenset({"process_limit"}),
    ),
    HostileCase(
        "filling_the_disk",
        _py(
            "def run(v):\n"
            "    for i in range(1000):\n"
            "        with open(f'part{i}', 'wb') as f:\n"
            "            f.write(b'x' * 2**21)\n"
        ),
        outcome="output_limit",
        reason="No space left",
    ),
    HostileCase(
        "writing_outside_the_workdir",
        _writes_outside,
        outcome="forbidden",
        reason="writing outside the working directory",
        degraded=frozenset({"forbidden"}),
    ),
    HostileCase(
        "reading_shadow_and_worker_settings",
        _reads_secret_files,
        outcome="forbidden",
        reason="/etc/shadow",
        degraded=frozenset({"forbidden"}),
    ),
    HostileCase(
        "reading_environments",
        _reads_environments,
        outcome="forbidden",
        reason="another process",
        degraded=frozenset({"forbidden"}),
    ),
    HostileCase(
        "sockets_to_redis_and_other_hosts",
        _opens_sockets,
        outcome="forbidden",
        reason="network access",
        degraded=frozenset({"forbidden"}),
    ),
    HostileCase(
        "shell_checks_who_it_runs_as",
        _py(
            "import subprocess\n"
            "def run(v):\n"
            "    out = subprocess.run(['sh', '-c', 'id -u; id -G'], capture_output=True,\n"
            "                         text=True).stdout\n"
            "    raise RuntimeError('whoami:' + ','.join(out.split()) + ':end')\n"
        ),
        outcome="candidate_error",
        reason="whoami:",
        degraded=frozenset({"candidate_error"}),
    ),
    HostileCase(
        "returning_300_mb",
        _py("def run(v):\n    return 'x' * 300_000_000\n"),
        outcome="output_limit",
        reason="the limit is",
        # Building and measuring 300 MB of JSON takes seconds of CPU and a
        # gigabyte of address space before the cap can refuse it.
        limits={"cpu_s": 20, "wall_timeout_s": 30.0, "memory_bytes": 1024 * MIB},
        degraded=frozenset({"output_limit"}),
    ),
    HostileCase(
        "peeking_at_its_suite",
        _peeks_at_its_suite,
        outcome="candidate_error",
        reason="seen:",
        degraded=frozenset(),  # the degraded mode shows the host's tree (documented)
    ),
    HostileCase(
        "pipeline_recursing_into_itself",
        _recurses,
        outcome="candidate_error",
        reason="pipeline_file 'ouroboros.yaml' is not one of the campaign's pipeline files",
        degraded=frozenset({"candidate_error"}),
    ),
    HostileCase(
        "leaving_a_daemon_behind",
        _py(
            "import os, time\n"
            "def run(v):\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(3600)\n"
            "        os._exit(0)\n"
            "    os.wait()\n"
            "    raise RuntimeError('detached a daemon')\n"
        ),
        outcome="candidate_error",
        reason="detached a daemon",
        degraded=frozenset({"candidate_error"}),
    ),
    HostileCase(
        "killing_its_parent",
        _kills_parent,
        outcome="candidate_error",
        reason="survived the kill",
        # Degraded: the candidate can kill its own sandbox's init (crashed).
        degraded=frozenset({"candidate_error", "crashed"}),
    ),
]


# ---- processes ----------------------------------------------------------------


def process_table() -> dict[int, tuple[int, str, str]]:
    """Live processes: pid -> (parent pid, state letter, command line)."""
    table: dict[int, tuple[int, str, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = stat[stat.rfind(")") + 2 :].split()[:2]
        table[int(entry)] = (
            int(ppid),
            state,
            cmdline.replace(b"\0", b" ").decode(errors="replace"),
        )
    return table


def descendants(root: int, table: dict[int, tuple[int, str, str]]) -> set[int]:
    """Every process below ``root`` in ``table``."""
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, (ppid, _, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


@dataclass(frozen=True)
class WorkerTree:
    """A worker's processes: its pool processes, their sandbox zygotes, the rest."""

    pool: frozenset[int]
    zygotes: frozenset[int]
    others: frozenset[int]


def worker_tree(main_pid: int) -> WorkerTree:
    """The processes below a worker's main process, sorted by role."""
    table = process_table()
    pool = {pid for pid, (ppid, _, _) in table.items() if ppid == main_pid}
    zygotes = {
        pid
        for pid, (ppid, _, cmd) in table.items()
        if ppid in pool and "evofarm.sandbox.child.zygote" in cmd
    }
    others = descendants(main_pid, table) - pool - zygotes
    return WorkerTree(frozenset(pool), frozenset(zygotes), frozenset(others))


def settled_tree(main_pid: int, timeout: float = 5.0) -> WorkerTree:
    """The worker's tree once nothing but its pool and zygotes is left (or at ``timeout``)."""
    deadline = time.monotonic() + timeout
    tree = worker_tree(main_pid)
    while tree.others and time.monotonic() < deadline:
        time.sleep(0.05)
        tree = worker_tree(main_pid)
    return tree


@contextlib.contextmanager
def child_subreaper() -> Iterator[None]:
    """Make this process a child subreaper for the block.

    Processes orphaned below it (a candidate that double-forked out of a
    worker's tree) are then re-parented here instead of to init, where
    :func:`escaped_children` finds them.
    """
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        prctl(PR_SET_CHILD_SUBREAPER, 0)


def escaped_children(known: set[int]) -> set[int]:
    """Live children of this process not in ``known``; reaps such zombies."""
    me = os.getpid()
    found: set[int] = set()
    for pid, (ppid, state, _) in process_table().items():
        if ppid != me or pid in known:
            continue
        if state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        else:
            found.add(pid)
    return found


# ---- secrets ----------------------------------------------------------------


def redis_text(client: redis.Redis, pattern: str = "*") -> dict[str, str]:
    """Every key matching ``pattern`` with its whole value as text (any type)."""
    dump: dict[str, str] = {}
    for raw in client.scan_iter(match=pattern, count=500):
        key = raw.decode(errors="replace")
        raw_kind = client.type(raw)
        kind = raw_kind.decode() if isinstance(raw_kind, bytes) else str(raw_kind)
        value: Any
        if kind == "string":
            value = client.get(raw)
        elif kind == "hash":
            value = client.hgetall(raw)
        elif kind == "list":
            value = client.lrange(raw, 0, -1)
        elif kind == "set":
            value = client.smembers(raw)
        elif kind == "zset":
            value = client.zrange(raw, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(raw)
        else:
            value = kind
        dump[key] = repr(value)
    return dump
