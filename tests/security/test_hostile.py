"""Hostile candidates: each is contained, classified, leaks no secret, leaves
nothing running, and leaves the worker and the next evaluation unaffected
(see ``run_hostile``)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evofarm.farm.redis_server import RedisServer
from evofarm.pipeline.loader import load_pipeline, load_pipeline_text
from evofarm.sandbox.limits import MIB, SandboxLimits
from evofarm.sandbox.parent.pipeline import run_pipeline_sandboxed
from evofarm.sandbox.wire.outcome import Outcome
from evofarm.settings import Settings
from evofarm.testing.loopback import loopback_listener

from .hostile import SECRET, check_contained, full_isolation_available, run_hostile

pytestmark = pytest.mark.security


def test_infinite_loop_hits_the_cpu_limit(mode: str) -> None:
    result = run_hostile(
        "def run(v):\n    while True:\n        pass\n",
        mode,
        limits=SandboxLimits(cpu_s=1, wall_timeout_s=20),
    )
    assert result.outcome is Outcome.CPU_LIMIT
    assert result.usage.cpu_s >= 0.9  # rusage and the rlimit tick differ slightly


def test_sleeping_an_hour_hits_the_wall_timeout(mode: str) -> None:
    result = run_hostile(
        "import time\ndef run(v):\n    time.sleep(3600)\n",
        mode,
        limits=SandboxLimits(wall_timeout_s=0.5),
    )
    assert result.outcome is Outcome.TIMEOUT
    assert result.wall_ms < 10_000


def test_memory_bomb_hits_the_memory_limit(mode: str) -> None:
    code = "def run(v):\n    hoard = []\n    while True:\n        hoard.append(bytearray(10**7))\n"
    result = run_hostile(code, mode, limits=SandboxLimits(memory_bytes=256 * MIB))
    assert result.outcome is Outcome.MEMORY_LIMIT


def test_fork_bomb_hits_the_process_limit(mode: str) -> None:
    code = "import os\ndef run(v):\n    while True:\n        os.fork()\n"
    result = run_hostile(code, mode, limits=SandboxLimits(max_processes=8))
    assert result.outcome is Outcome.PROCESS_LIMIT


def test_one_huge_file_hits_the_file_size_limit(mode: str) -> None:
    code = (
        "def run(v):\n"
        "    with open('big', 'wb') as f:\n"
        "        while True:\n"
        "            f.write(b'x' * 2**20)\n"
    )
    result = run_hostile(code, mode, limits=SandboxLimits(max_file_bytes=4 * MIB))
    assert result.outcome is Outcome.OUTPUT_LIMIT


def test_filling_the_disk_hits_the_workdir_size(mode: str) -> None:
    if mode == "degraded":
        pytest.skip("the degraded mode cannot cap the working directory (documented)")
    code = (
        "def run(v):\n"
        "    for i in range(1000):\n"
        "        with open(f'part{i}', 'wb') as f:\n"
        "            f.write(b'x' * 2**21)\n"
    )
    result = run_hostile(
        code, mode, limits=SandboxLimits(max_file_bytes=4 * MIB, workdir_bytes=16 * MIB)
    )
    assert result.outcome is Outcome.OUTPUT_LIMIT
    assert "No space left" in result.message


@pytest.mark.parametrize("where", ["/var/tmp", "/etc"])
def test_writing_outside_the_workdir_is_forbidden(mode: str, where: str) -> None:
    # /var/tmp is world-writable on the host: only the sandbox stops this.
    target = Path(where) / f"evofarm-planted-{uuid.uuid4().hex}"
    code = "def run(path):\n    with open(path, 'w') as f:\n        f.write('owned')\n"
    try:
        result = run_hostile(code, mode, value=str(target))
        assert result.outcome is Outcome.FORBIDDEN
        assert "writing outside the working directory" in result.message
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


def test_a_shell_cannot_write_outside_either(tmp_path: Path) -> None:
    if not full_isolation_available():
        pytest.skip("needs full isolation")
    tmp_path.chmod(0o777)
    target = tmp_path / "planted"
    code = (
        "import subprocess\n"
        "def run(path):\n"
        "    cmd = f'echo owned > {path}; echo x > /etc/evil; echo y > /var/tmp/evil'\n"
        "    p = subprocess.run(['sh', '-c', cmd], capture_output=True, text=True)\n"
        "    return p.stderr\n"
    )
    result = run_hostile(code, "full", value=str(target))
    assert result.outcome is Outcome.OK
    assert not target.exists()
    assert not Path("/etc/evil").exists()
    assert "Read-only file system" in result.value or "No such file" in result.value


def _skip_if_same_uid(mode: str) -> None:
    if mode == "degraded" and os.geteuid() != 0:
        pytest.skip("degraded and not root: the candidate has the worker's uid (documented)")


def test_reading_secrets_from_files_is_contained(mode: str, tmp_path: Path) -> None:
    _skip_if_same_uid(mode)
    settings = tmp_path / "worker.env"
    settings.write_text(f"ANTHROPIC_API_KEY={SECRET}\n")
    settings.chmod(0o600)
    code = (
        "import subprocess\n"
        "def run(path):\n"
        "    seen = []\n"
        "    for p in (path, '/etc/shadow'):\n"
        "        try:\n"
        "            seen.append(open(p).read())\n"
        "        except Exception as exc:\n"
        "            seen.append(repr(exc))\n"
        "    shell = subprocess.run(['cat', path, '/etc/shadow'], capture_output=True, text=True)\n"
        "    return seen + [shell.stdout, shell.stderr]\n"
    )
    result = run_hostile(code, mode, value=str(settings))
    assert result.outcome is Outcome.FORBIDDEN
    assert "/etc/shadow" in result.message


def test_reading_environments_finds_no_key(mode: str) -> None:
    _skip_if_same_uid(mode)
    code = (
        "import os, subprocess\n"
        "def run(worker):\n"
        "    found = [dict(os.environ)]\n"
        "    shell = subprocess.run(\n"
        "        ['sh', '-c', f'env; cat /proc/*/environ /proc/{worker}/environ'],\n"
        "        capture_output=True, text=True)\n"
        "    found += [shell.stdout, shell.stderr]\n"
        "    for entry in os.listdir('/proc'):\n"
        "        if entry.isdigit():\n"
        "            try:\n"
        "                found.append(open(f'/proc/{entry}/environ', 'rb').read().decode())\n"
        "            except Exception as exc:\n"
        "                found.append(repr(exc))\n"
        "    return found\n"
    )
    result = run_hostile(code, mode, value=os.getpid())
    # run_hostile already asserts the secret appears nowhere.
    assert result.outcome is Outcome.FORBIDDEN  # reading other processes' environ
    assert "another process" in result.message


@pytest.fixture
def listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A throwaway TCP listener on loopback, recording accepted connections."""
    with loopback_listener() as found:
        yield found


def test_sockets_to_redis_and_other_hosts_are_forbidden(
    mode: str, listener: tuple[int, list[socket.socket]], redis_server: RedisServer
) -> None:
    port, accepted = listener
    code = (
        "import socket\n"
        "def run(v):\n"
        "    errors = []\n"
        "    targets = [(socket.AF_INET, ('127.0.0.1', v['port'])),\n"
        "               (socket.AF_INET, ('192.0.2.1', 80)),\n"
        "               (socket.AF_UNIX, v['redis'])]\n"
        "    for family, address in targets:\n"
        "        s = socket.socket(family, socket.SOCK_STREAM)\n"
        "        try:\n"
        "            s.connect(address)\n"
        "            errors.append('connected')\n"
        "        except OSError as exc:\n"
        "            errors.append(repr(exc))\n"
        "        finally:\n"
        "            s.close()\n"
        "    try:\n"
        "        socket.getaddrinfo('example.com', 80)\n"
        "    except OSError as exc:\n"
        "        errors.append(repr(exc))\n"
        "    return errors\n"
    )
    value = {"port": port, "redis": str(redis_server.socket_path)}
    result = run_hostile(code, mode, value=value)
    assert result.outcome is Outcome.FORBIDDEN
    assert "network access" in result.message
    assert accepted == []


def test_a_shell_has_no_network_either(listener: tuple[int, list[socket.socket]]) -> None:
    if not full_isolation_available():
        pytest.skip("needs full isolation (the degraded mode shares the network)")
    port, accepted = listener
    code = (
        "import subprocess\n"
        "def run(port):\n"
        "    cmd = f'exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected'\n"
        "    p = subprocess.run(['bash', '-c', cmd], capture_output=True, text=True)\n"
        "    return [p.returncode, p.stdout, open('/proc/net/dev').read()]\n"
    )
    result = run_hostile(code, "full", value=port)
    assert result.outcome is Outcome.OK
    returncode, stdout, devices = result.value
    assert returncode != 0 and "connected" not in stdout
    interfaces = [line.split(":")[0].strip() for line in devices.splitlines()[2:]]
    assert interfaces == ["lo"]
    assert accepted == []


def test_a_shell_runs_unprivileged(mode: str) -> None:
    code = (
        "import subprocess\n"
        "def run(v):\n"
        "    out = subprocess.run(['sh', '-c', 'id -u; id -G'], capture_output=True, text=True)\n"
        "    return out.stdout.split()\n"
    )
    result = run_hostile(code, mode)
    assert result.outcome is Outcome.OK
    uid, *groups = result.value
    assert uid != "0" and "0" not in groups


def test_returning_300_mb_hits_the_output_cap(mode: str) -> None:
    result = run_hostile("def run(v):\n    return 'x' * 300_000_000\n", mode)
    assert result.outcome is Outcome.OUTPUT_LIMIT
    assert result.value is None


def test_forging_a_huge_frame_is_stopped_at_the_header(mode: str) -> None:
    # Bypasses the child's own encoder: writes a 300 MB header to every pipe.
    code = (
        "import os, struct\n"
        "def run(v):\n"
        "    for fd in range(3, 20):\n"
        "        try:\n"
        "            os.write(fd, struct.pack('>I', 300_000_000) + b'x' * 65536)\n"
        "        except OSError:\n"
        "            pass\n"
        "    import time\n"
        "    time.sleep(30)\n"
    )
    result = run_hostile(code, mode)
    assert result.outcome is Outcome.OUTPUT_LIMIT
    assert "exceeds the cap" in result.message


def test_killing_its_parent_does_not_reach_the_worker(mode: str) -> None:
    code = (
        "import os, signal\n"
        "def run(worker):\n"
        "    for target in (worker, os.getppid(), -1):\n"
        "        try:\n"
        "            os.kill(target, signal.SIGKILL)\n"
        "        except OSError as exc:\n"
        "            pass\n"
        "    return 'survived'\n"
    )
    result = run_hostile(code, mode, value=os.getpid())
    # Full isolation: the worker is invisible and the namespace's init ignores
    # signals from inside. Degraded: the worker (root) cannot be signalled, but
    # the candidate can kill its own sandbox's init, which ends the candidate
    # (crashed) unless its result was already on its way (ok).
    expected = {Outcome.OK} if mode == "full" else {Outcome.OK, Outcome.CRASHED}
    assert result.outcome in expected, result.message


def test_a_pipeline_that_recurses_into_itself(mode: str, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "ouroboros.yaml"
    path.write_text(
        "name: ouroboros\nsteps:\n"
        "  - {name: again, type: pipeline, pipeline_file: ouroboros.yaml}\n"
    )
    path.chmod(0o644)
    pipeline = load_pipeline(path)
    result = check_contained(
        lambda: run_pipeline_sandboxed(
            pipeline, llm=None, base_dir=tmp_path, namespaces=mode == "full"
        ),
        mode,
    )
    assert result.outcome is Outcome.CANDIDATE_ERROR
    assert result.value is not None and result.value["status"] == "failed"
    if mode == "full":
        assert result.value["limit"] == "max_depth"


def test_a_hostile_python_step_inside_a_pipeline(mode: str) -> None:
    text = (
        "name: sneaky\nsteps:\n"
        "  - name: first\n    type: test_echo\n    value: fine\n"
        "  - name: bomb\n    type: python\n    code: |\n"
        "      def run(value):\n"
        "          import os\n"
        "          while True:\n"
        "              os.fork()\n"
    )
    pipeline = load_pipeline_text(text)
    result = check_contained(
        lambda: run_pipeline_sandboxed(
            pipeline,
            llm=None,
            limits=SandboxLimits(max_processes=8),
            namespaces=mode == "full",
        ),
        mode,
    )
    assert result.outcome is Outcome.PROCESS_LIMIT
    assert result.value["error_step"] == "bomb"


def test_the_worker_s_state_dir_is_hidden_even_below_base_dir(tmp_path: Path) -> None:
    if not full_isolation_available():
        pytest.skip("needs full isolation")
    tmp_path.chmod(0o755)
    state = tmp_path / ".evofarm"
    state.mkdir(mode=0o755)
    (state / "settings.env").write_text(f"ANTHROPIC_API_KEY={SECRET}\n")
    (state / "settings.env").chmod(0o644)  # even if it were world-readable
    pipeline = load_pipeline_text(
        "name: peek\nsteps:\n  - name: look\n    type: python\n    code: |\n"
        "      def run(value):\n"
        "          import os, subprocess\n"
        f"          d = {str(state)!r}\n"
        "          out = subprocess.run(['sh', '-c', f'ls -a {d}; cat {d}/*'],\n"
        "                               capture_output=True, text=True)\n"
        "          return [os.listdir(d), out.stdout, out.stderr]\n"
    )
    result = check_contained(
        lambda: run_pipeline_sandboxed(
            pipeline, llm=None, base_dir=tmp_path, settings=Settings(state_dir=state)
        ),
        "full",
    )
    assert result.outcome is Outcome.OK, result.message
    listing, _stdout, _stderr = result.value["steps"]["look"]["result"]
    assert listing == []


def test_thread_bomb_hits_the_process_limit(mode: str) -> None:
    code = (
        "import threading, time\n"
        "def run(v):\n"
        "    while True:\n"
        "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    )
    result = run_hostile(code, mode, limits=SandboxLimits(max_processes=16))
    assert result.outcome is Outcome.PROCESS_LIMIT


def test_a_daemon_left_behind_is_killed(mode: str) -> None:
    code = (
        "import os, time\n"
        "def run(v):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(3600)\n"
        "        os._exit(0)\n"
        "    os.wait()\n"
        "    return 'detached'\n"
    )
    result = run_hostile(code, mode)  # asserts nothing is left running
    assert result.outcome is Outcome.OK
    assert result.value == "detached"
