"""run_sandboxed end to end with ordinary (non-hostile) python jobs."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from evofarm.errors import LimitExceeded, SandboxError, StepFailed
from evofarm.sandbox.child.zygote import get_zygote
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent import runner
from evofarm.sandbox.parent.python_runner import (
    InChildPythonRunner,
    SandboxedPythonRunner,
    python_runner_for_here,
)
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.wire.job import JOB_ADAPTER, PipelineJob, PythonJob
from evofarm.sandbox.wire.outcome import Outcome

UPPER = "def run(value):\n    return value.upper()\n"


def test_python_job_returns_json_value() -> None:
    result = run_sandboxed(PythonJob(code=UPPER, input="abc"))
    assert result.outcome is Outcome.OK, result.message
    assert result.value == "ABC"
    assert result.message == ""
    assert result.wall_ms > 0
    assert result.usage.cpu_s > 0


def test_structured_values_cross_both_ways() -> None:
    code = "def run(v):\n    return {'n': v['n'] + 1, 't': (1, 2), 'none': None}\n"
    result = run_sandboxed(PythonJob(code=code, input={"n": 41}))
    assert result.value == {"n": 42, "t": [1, 2], "none": None}


@pytest.mark.parametrize(
    "code,fragment",
    [
        ("def run(v):\n    raise ValueError('bad ' + v)\n", "ValueError: bad x (line 2)"),
        ("def run(v):\n    return 1 / 0\n", "ZeroDivisionError"),
        ("def run(v:\n", "does not compile"),
        ("x = 1\n", "must define a function run(value)"),
        ("def run(v):\n    return {1, 2}\n", "not JSON-serialisable"),
        ("def run(v):\n    return float('nan')\n", "not JSON-serialisable"),
        ("def run(v):\n    raise SystemExit(3)\n", "SystemExit"),
        ("def run(v):\n    return run(v)\n", "RecursionError"),
    ],
)
def test_candidate_errors_carry_their_message(code: str, fragment: str) -> None:
    result = run_sandboxed(PythonJob(code=code, input="x"))
    assert result.outcome is Outcome.CANDIDATE_ERROR
    assert fragment in result.message
    assert result.value is None


def test_exiting_without_a_result_is_a_candidate_error() -> None:
    result = run_sandboxed(PythonJob(code="import os\ndef run(v):\n    os._exit(7)\n"))
    assert result.outcome is Outcome.CANDIDATE_ERROR
    assert "status 7" in result.message


def test_a_signal_is_a_crash() -> None:
    code = "import os, signal\ndef run(v):\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
    result = run_sandboxed(PythonJob(code=code))
    assert result.outcome is Outcome.CRASHED
    assert "SIGSEGV" in result.message


def test_job_union_is_discriminated_on_kind() -> None:
    job = JOB_ADAPTER.validate_python({"kind": "python", "code": UPPER, "input": 1})
    assert isinstance(job, PythonJob)
    job2 = JOB_ADAPTER.validate_python({"kind": "pipeline", "pipeline": {"name": "p"}})
    assert isinstance(job2, PipelineJob)


def test_sandboxed_python_runner_maps_outcomes_to_step_errors() -> None:
    runner = SandboxedPythonRunner(SandboxLimits(wall_timeout_s=2))
    assert runner(UPPER, "hi") == "HI"
    assert runner.last_result is not None and runner.last_result.ok
    with pytest.raises(StepFailed, match="candidate_error: KeyError"):
        runner("def run(v):\n    return {}['k']\n", None)
    with pytest.raises(LimitExceeded) as info:
        runner("import time\ndef run(v):\n    time.sleep(60)\n", None)
    assert info.value.limit == "timeout"
    with pytest.raises(StepFailed, match="input is not JSON"):
        runner(UPPER, {1, 2})


def test_in_child_runner_refuses_to_run_outside_a_sandbox() -> None:
    with pytest.raises(RuntimeError, match="outside a sandbox"):
        InChildPythonRunner()
    assert isinstance(python_runner_for_here(), SandboxedPythonRunner)


def test_concurrent_evaluations_from_threads() -> None:
    code = "def run(v):\n    return v * 2\n"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: run_sandboxed(PythonJob(code=code, input=n)), range(8)))
    assert [r.value for r in results] == [n * 2 for n in range(8)]


def test_a_sandbox_that_cannot_start_is_a_sandbox_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner.tempfile, "mkdtemp", lambda prefix: "/nonexistent/evofarm-x")
    with pytest.raises(SandboxError, match="sandbox supervisor"):
        run_sandboxed(PythonJob(code=UPPER, input="a"))
    monkeypatch.undo()
    assert run_sandboxed(PythonJob(code=UPPER, input="b")).value == "B"


def test_a_dead_zygote_is_replaced() -> None:
    old = get_zygote()
    os.kill(old.pid, signal.SIGKILL)
    old._proc.wait(timeout=5)
    result = run_sandboxed(PythonJob(code=UPPER, input="c"))
    assert result.value == "C"
    assert get_zygote().pid != old.pid


def test_a_job_that_is_not_json_is_refused_before_anything_starts() -> None:
    with pytest.raises((TypeError, ValueError)):
        run_sandboxed(PythonJob(code=UPPER, input=object()))
