"""Helpers for hostile-candidate tests: process-tree accounting and the checks
every case ends with."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from evofarm.sandbox.child.zygote import get_zygote
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.wire.job import PythonJob
from evofarm.sandbox.wire.outcome import Outcome, SandboxResult

SECRET = "sk-test-secret-5b1f0c"
REDIS_PASSWORD = "redis-pass-9d2e"


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat[stat.rfind(")") + 2 :].split()[1])
    return parents


def descendants(root: int) -> set[int]:
    """Every live process below ``root``."""
    parents = _parents()
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def strays() -> set[int]:
    """Processes below this test process other than the zygote."""
    zygote = get_zygote().pid
    return descendants(os.getpid()) - {zygote}


def full_isolation_available() -> bool:
    probe = run_sandboxed(PythonJob(code="def run(v):\n    return 1\n"))
    return probe.isolation.mode == "full"


def check_contained(run: Callable[[], SandboxResult], mode: str) -> SandboxResult:
    """Run one hostile evaluation and check what every case must hold: no
    secret in any output, nothing left running, and the worker and the next
    evaluation unaffected."""
    me = os.getpid()
    before = strays()  # e.g. the session's redis-server
    result = run()
    dump = result.model_dump_json()
    assert SECRET not in dump
    assert REDIS_PASSWORD not in dump
    assert result.isolation.mode == mode
    deadline = time.monotonic() + 5
    while (left := strays() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"left running: {left}"
    assert os.getpid() == me
    after = run_sandboxed(
        PythonJob(code="def run(v):\n    return v + 1\n", input=41), namespaces=mode == "full"
    )
    assert after.outcome is Outcome.OK and after.value == 42, after.message
    return result


def run_hostile(
    code: str, mode: str, *, limits: SandboxLimits | None = None, value: object = None
) -> SandboxResult:
    """:func:`check_contained` for a python job running ``code`` on ``value``."""
    return check_contained(
        lambda: run_sandboxed(
            PythonJob(code=code, input=value),
            limits=limits or SandboxLimits(wall_timeout_s=10),
            namespaces=mode == "full",
        ),
        mode,
    )
