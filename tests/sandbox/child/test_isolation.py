"""What the child can see and do, and detection of a platform that refuses
namespaces."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from pathlib import Path

import pytest

import evofarm
from evofarm.sandbox.child import isolation
from evofarm.sandbox.parent import runner
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.wire.job import PythonJob
from evofarm.sandbox.wire.outcome import Outcome

PROBE = """
import os
import sys
def run(v):
    def ls(path):
        try:
            return sorted(os.listdir(path))
        except OSError as exc:
            return repr(exc)
    return {
        "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "cwd": os.getcwd(), "env": dict(os.environ),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "tmp": ls("/tmp"), "work": ls("."), "home": ls("/home"), "run": ls("/run"),
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "net": open("/proc/net/dev").read(),
    }
"""


def _full_available() -> bool:
    result = run_sandboxed(PythonJob(code="def run(v):\n    return 1\n"))
    return result.isolation.mode == "full"


def test_full_isolation_view() -> None:
    if not _full_available():
        pytest.skip("this platform refuses the namespaces full isolation needs")
    result = run_sandboxed(PythonJob(code=PROBE))
    assert result.outcome is Outcome.OK, result.message
    assert result.isolation.mode == "full" and result.isolation.missing == ()
    seen = result.value
    assert seen["uid"] == isolation.INNER_ID and seen["gid"] == isolation.INNER_ID
    assert 0 not in seen["groups"]
    assert seen["cwd"] == isolation.SANDBOX_WORKDIR
    assert seen["env"]["HOME"] == isolation.SANDBOX_WORKDIR
    assert set(seen["env"]) <= {*isolation.SAFE_ENV, "HOME", "TMPDIR"}
    assert seen["pids"] == [1, 2]  # the sandbox's init and the candidate
    assert seen["work"] == []  # a private, empty working directory
    # /tmp is private too: only the workdir and installs that live below /tmp.
    below_tmp = {
        Path(p).relative_to("/tmp").parts[0]
        for p in (sys.prefix, sys.base_prefix, str(Path(evofarm.__file__).parent))
        if Path(p).is_relative_to("/tmp")
    }
    assert set(seen["tmp"]) == {"work", *below_tmp}
    assert "FileNotFoundError" in seen["run"]  # not in the sandbox's root at all
    interfaces = [line.split(":")[0].strip() for line in seen["net"].splitlines()[2:]]
    assert interfaces == ["lo"]
    assert seen["fds"][:3] == [0, 1, 2] and len(seen["fds"]) <= 6  # stdio + 2 pipes (+ listdir)


SNOOP = """
import os
def run(paths):
    def attempt(path):
        try:
            if os.path.isdir(path):
                return sorted(os.listdir(path))
            with open(path, "rb") as f:
                return f.read(64).decode(errors="replace")
        except OSError as exc:
            return type(exc).__name__
    return {path: attempt(path) for path in paths} | {"root": sorted(os.listdir("/"))}
"""


def test_candidate_sees_only_the_runtime_and_its_workdir(tmp_path: Path) -> None:
    """No suite, no project tree, no home, no state dir, no /sys/class/net."""
    if not _full_available():
        pytest.skip("this platform refuses the namespaces full isolation needs")
    project = Path(evofarm.__file__).resolve().parents[1]
    suite = project / "pipelines/suites/contacts.yaml"
    state = tmp_path / "state"
    state.mkdir()
    (state / "secret.txt").write_text("expected outputs")
    targets = [
        str(suite),
        str(project),
        str(project / "tests"),
        os.path.expanduser("~"),
        "/root",
        "/home",
        str(state / "secret.txt"),
        "/sys/class/net",
        "/etc/passwd",
    ]
    assert Path(targets[0]).is_file() and Path("/sys/class/net").is_dir()
    result = run_sandboxed(PythonJob(code=SNOOP, input=targets), hidden=(str(state),))
    assert result.outcome is Outcome.OK, result.message
    seen = result.value
    # A directory on the way to the runtime exists only as that way: no other entry.
    runtime = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix, evofarm.__file__)]
    for path in targets:
        if isinstance(seen[path], list):
            on_the_way = {r.relative_to(path).parts[0] for r in runtime if r.is_relative_to(path)}
            assert on_the_way and set(seen[path]) == on_the_way, (path, seen[path])
        else:
            assert seen[path] == "FileNotFoundError", (path, seen[path])
    # Its package (and the venv, when that lives in the project): not its tests or suites.
    assert "evofarm" in seen[str(project)]
    assert not {"tests", "pipelines", "benchmarks"} & set(seen[str(project)])
    system = {"usr", "tmp", "proc", "dev", "etc", "bin", "sbin", "lib", "lib32", "lib64"}
    assert set(seen["root"]) - system == {r.parts[1] for r in runtime} - system, seen["root"]
    assert {"usr", "tmp", "proc", "dev", "etc"} <= set(seen["root"])
    assert "sys" not in seen["root"] and "run" not in seen["root"]
    # The runtime is there, read-only: evofarm's own package, not the project around it.
    probe = "import evofarm, os\nD = os.path.dirname(evofarm.__file__)\ndef run(v):\n"
    readable = run_sandboxed(PythonJob(code=probe + "    return os.path.isfile(D + '/keys.py')\n"))
    assert (readable.outcome, readable.value) == (Outcome.OK, True)
    written = run_sandboxed(PythonJob(code=probe + "    open(D + '/x', 'w')\n"))
    assert written.outcome is Outcome.FORBIDDEN
    # The zygote keeps serving the next evaluation.
    after = run_sandboxed(PythonJob(code="def run(v):\n    return v * 2\n", input=21))
    assert (after.outcome, after.value) == (Outcome.OK, 42)


def test_degraded_mode_is_recorded_and_still_unprivileged() -> None:
    result = run_sandboxed(PythonJob(code=PROBE), namespaces=False)
    assert result.outcome is Outcome.OK, result.message
    assert result.isolation.mode == "degraded"
    missing = " | ".join(result.isolation.missing)
    for what in ("namespaces: disabled", "network:", "proc:", "filesystem:", "workdir:"):
        assert what in missing
    seen = result.value
    assert seen["uid"] != 0 and 0 not in seen["groups"]
    assert seen["cwd"].startswith("/") and "evofarm-sandbox-" in seen["cwd"]
    assert not Path(seen["cwd"]).exists()  # the private directory was removed
    assert set(seen["env"]) <= {*isolation.SAFE_ENV, "HOME", "TMPDIR"}


def test_degraded_mode_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    runner._warned.clear()
    with caplog.at_level("WARNING", logger="evofarm.sandbox.parent.runner"):
        run_sandboxed(PythonJob(code="def run(v):\n    return 1\n"), namespaces=False)
        run_sandboxed(PythonJob(code="def run(v):\n    return 1\n"), namespaces=False)
    warnings = [r for r in caplog.records if "degraded" in r.getMessage()]
    assert len(warnings) == 1
    assert "network" in warnings[0].getMessage()


def _refusal_probe(write: int) -> None:
    """In a child: a user namespace whose limit of nested user namespaces is 0
    stands for a platform that refuses them; report enter_namespaces()."""
    try:
        uid, gid = os.geteuid(), os.getegid()
        isolation.unshare(isolation.CLONE_NEWUSER)
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
        Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
        Path("/proc/sys/user/max_user_namespaces").write_text("0")
        os.write(write, json.dumps({"reason": isolation.enter_namespaces()}).encode())
    except OSError as exc:
        os.write(write, json.dumps({"setup": str(exc)}).encode())
    finally:
        os._exit(0)


def test_refused_namespaces_are_detected_not_fatal() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _refusal_probe(write)
    os.close(write)
    report = json.loads(os.read(read, 4096))
    os.close(read)
    os.waitpid(pid, 0)
    if "setup" in report:
        pytest.skip(f"cannot simulate a refusing platform here: {report['setup']}")
    assert report["reason"].startswith("namespaces: unshare refused")


def _from_daemon(queue: multiprocessing.Queue[object]) -> None:
    result = run_sandboxed(PythonJob(code="def run(v):\n    return v * 3\n", input=5))
    queue.put(result.model_dump(mode="json"))


def test_usable_from_a_daemonic_process() -> None:
    """Celery's prefork children are daemonic: multiprocessing refuses them
    children, so the sandbox must not depend on it."""
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[object] = context.Queue()
    process = context.Process(target=_from_daemon, args=(queue,), daemon=True)
    process.start()
    try:
        data = queue.get(timeout=30)
    finally:
        process.join(timeout=10)
    assert isinstance(data, dict)
    assert data["outcome"] == "ok" and data["value"] == 15
    assert process.exitcode == 0
