"""Frames a candidate forges on its LLM pipe end its evaluation as ``forbidden``.

Each test runs a python job that writes one frame to every descriptor it has
(the pipe to the worker among them) and then waits; the worker must stop it as
``forbidden`` and keep serving (the next job runs fine).
"""

from __future__ import annotations

import json

import pytest

from evofarm.providers.mock import MockProvider
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.wire.job import PythonJob
from evofarm.sandbox.wire.outcome import Outcome

DEEP: dict[str, object] = {"a": 1}
for _ in range(40):
    DEEP = {"a": DEEP}
REQUEST = {"model": "haiku", "messages": [{"role": "user", "content": "hi"}]}


def _forge(body: str) -> str:
    return (
        "import os, struct, time\n"
        f"BODY = {body!r}.encode()\n"
        "def run(v):\n"
        "    for fd in range(3, 20):\n"
        "        try:\n"
        "            os.write(fd, struct.pack('>I', len(BODY)) + BODY)\n"
        "        except OSError:\n"
        "            pass\n"
        "    time.sleep(30)\n"
    )


def _run(code: str, llm: MockProvider) -> Outcome:
    result = run_sandboxed(
        PythonJob(code=code, input=None),
        limits=SandboxLimits(wall_timeout_s=10),
        llm=llm,
        namespaces=False,
    )
    return result.outcome


SCHEMA_INFINITY = (
    '{"type":"llm","id":1,"request":{"model":"haiku",'
    '"messages":[{"role":"user","content":"x"}],'
    '"response_schema":{"type":"integer","minimum":Infinity}}}'
)


@pytest.mark.parametrize(
    "body",
    [
        SCHEMA_INFINITY,
        '{"type":"llm","id":1,"request":{"model":"haiku","messages":[],"temperature":NaN}}',
        json.dumps({"type": "llm", "id": "1", "request": REQUEST}),
        json.dumps({"type": "llm", "id": 2**40, "request": REQUEST}),
        json.dumps({"type": "llm", "id": 1, "request": REQUEST, "extra": 1}),
        json.dumps({"type": "llm", "id": 1, "request": {**REQUEST, "max_tokens": 10**12}}),
        json.dumps({"type": "llm", "id": 1, "request": {**REQUEST, "messages": []}}),
        json.dumps({"type": "llm", "id": 1, "request": "not a request"}),
        json.dumps({"type": "llm", "id": 1, "request": {**REQUEST, "response_schema": DEEP}}),
    ],
    ids=["infinity", "nan", "string-id", "huge-id", "extra-key", "max-tokens", "no-messages",
         "bad-request", "deep-schema"],
)  # fmt: skip
def test_a_bad_llm_frame_is_forbidden_and_the_worker_survives(body: str) -> None:
    llm = MockProvider()
    assert _run(_forge(body), llm) is Outcome.FORBIDDEN
    assert llm.calls == 0  # nothing of the frame reached the provider
    ok = run_sandboxed(PythonJob(code="def run(v):\n    return 1\n", input=None), llm=llm)
    assert ok.outcome is Outcome.OK


def test_a_huge_min_length_is_capped_by_the_mock() -> None:
    # A valid frame: the mock answers it, within its caps, instead of a MemoryError.
    schema = {"type": "string", "minLength": 10**15}
    body = json.dumps({"type": "llm", "id": 1, "request": {**REQUEST, "response_schema": schema}})
    llm = MockProvider()
    code = _forge(body).replace("time.sleep(30)", "time.sleep(1)\n    return 'done'")
    result = run_sandboxed(
        PythonJob(code=code, input=None), limits=SandboxLimits(wall_timeout_s=10), llm=llm
    )
    assert llm.calls == 1
    assert result.outcome in (Outcome.OK, Outcome.CANDIDATE_ERROR)
