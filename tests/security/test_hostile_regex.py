"""Hostile regexes a pipeline supplies finish fast, in and out of the sandbox.

The three patterns of issue 12 pass the load-time structural check and, run by
``re``, backtrack for minutes. Every regex a pipeline supplies (transform ops,
``matches`` conditions) runs under a time limit, so each run below ends within
seconds: completed (the ``regex`` engine needed no backtracking for that subject)
or failed with the time limit named, a candidate error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.regex_guard import REGEX_TIMEOUT_S, RegexTimeout, compile_guarded
from evofarm.sandbox.parent.pipeline import run_pipeline_sandboxed
from evofarm.sandbox.wire.outcome import Outcome
from tests.pipeline.exec_helpers import run_text

# (pattern, a subject it backtracks on under ``re``)
HOSTILE = [
    pytest.param(r"^(?:a?){31}a{31}$", "a" * 31 + "b", id="optional-then-fixed"),
    pytest.param(r"^(?:(?:(?:a{0,12}){0,12}){0,12})$", "a" * 60 + "b", id="nested-bounded"),
    pytest.param(r"a*a*a*a*a*c", "a" * 30_000, id="stars-on-30k"),
]
#: Generous for 2 busy cores: the limit is a quarter second, the hang minutes.
FAST_S = 15.0


def _transform(pattern: str, op: str) -> str:
    extra = '"replacement": "x"' if op == "regex_replace" else '"all": true'
    return f"""
workflow:
  name: hostile-{op}
  steps:
    - name: scan
      type: transform
      input: "{{{{inputs.text}}}}"
      operations:
        - {{"op": "{op}", "pattern": {json.dumps(pattern)}, {extra}}}
"""


def _condition(pattern: str) -> str:
    return f"""
workflow:
  name: hostile-matches
  steps:
    - name: echoed
      type: test_echo
      value: "{{{{inputs.text}}}}"
    - name: gated
      type: test_echo
      value: "matched"
      condition: {json.dumps("echoed.result matches '" + pattern + "'")}
"""


PIPELINES = [
    pytest.param(lambda p: _transform(p, "regex_extract"), id="regex_extract"),
    pytest.param(lambda p: _transform(p, "regex_replace"), id="regex_replace"),
    pytest.param(_condition, id="matches"),
]


def _check_outcome(status: str, error: str | None) -> None:
    if status == "failed":
        assert error is not None and "took longer than" in error, error
    else:
        assert status == "completed", error


@pytest.mark.parametrize(("pattern", "subject"), HOSTILE)
@pytest.mark.parametrize("make", PIPELINES)
def test_hostile_patterns_end_fast_in_process(
    make: object, pattern: str, subject: str, tmp_path: Path
) -> None:
    assert callable(make)
    started = time.monotonic()
    trace = run_text(make(pattern), tmp_path, {"text": subject})
    assert time.monotonic() - started < FAST_S
    _check_outcome(trace.status, trace.error)


@pytest.mark.parametrize(("pattern", "subject"), HOSTILE)
def test_hostile_patterns_end_fast_in_the_sandbox(pattern: str, subject: str) -> None:
    pipeline = load_pipeline_text(_transform(pattern, "regex_extract"))
    started = time.monotonic()
    result = run_pipeline_sandboxed(pipeline, {"text": subject}, llm=None)
    assert time.monotonic() - started < FAST_S
    assert result.outcome in {Outcome.OK, Outcome.CANDIDATE_ERROR}, result.message
    trace = result.value
    assert isinstance(trace, dict)
    _check_outcome(str(trace["status"]), trace.get("error"))


def test_a_backtracking_pattern_is_stopped_with_a_candidate_error(tmp_path: Path) -> None:
    """The nested bounded repeat does backtrack under ``regex``: the limit stops it."""
    pattern, subject = r"^(?:(?:(?:a{0,12}){0,12}){0,12})$", "a" * 60 + "b"
    with pytest.raises(RegexTimeout, match="took longer than"):
        compile_guarded(pattern).search(subject)
    trace = run_text(_transform(pattern, "regex_extract"), tmp_path, {"text": subject})
    assert trace.status == "failed"
    assert trace.error_step == "scan"
    assert f"took longer than {REGEX_TIMEOUT_S:g}s" in str(trace.error)
    trace = run_text(_condition(pattern), tmp_path, {"text": subject})
    assert trace.status == "failed"
    assert "took longer than" in str(trace.error)
