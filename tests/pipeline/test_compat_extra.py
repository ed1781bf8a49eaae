"""The extra pipeline_ex files (tests/pipeline/compat_extra) get their stated verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import check_pipeline_file

from .compat_corpus import EXTRA, EXTRA_INVALID, EXTRA_VALID
from .exec_helpers import make_runtime


def test_every_extra_file_has_a_verdict() -> None:
    files = {p.name for p in EXTRA.glob("*.yaml")}
    assert files == set(EXTRA_VALID) | set(EXTRA_INVALID)


@pytest.mark.parametrize("name", sorted(EXTRA_VALID))
def test_valid_extra_file_loads_with_one_warning_per_compat_key(name: str) -> None:
    report = check_pipeline_file(EXTRA / name)
    assert report.problems == []
    keys = [w.key for w in report.warnings]
    assert len(keys) == len(set(keys))  # one warning per key
    assert set(keys) == EXTRA_VALID[name]
    for warning in report.warnings:
        assert warning.location.file == str(EXTRA / name)
        assert warning.location.line is not None
        assert "has no effect" in str(warning)


@pytest.mark.parametrize("name", sorted(EXTRA_VALID))
def test_valid_extra_file_runs_with_the_mock_provider(name: str, tmp_path: Path) -> None:
    pipeline = check_pipeline_file(EXTRA / name).raise_first()
    trace = run_pipeline(pipeline, {}, runtime=make_runtime(tmp_path))
    assert trace.status == "completed", trace.error


@pytest.mark.parametrize("name", sorted(EXTRA_INVALID))
def test_invalid_extra_file_is_refused_naming_the_real_key(name: str) -> None:
    key, words = EXTRA_INVALID[name]
    report = check_pipeline_file(EXTRA / name)
    assert len(report.problems) == 1, [str(p) for p in report.problems]
    problem = report.problems[0]
    assert problem.location.key == key
    assert problem.location.line is not None
    for word in words:
        assert word in str(problem)
    assert "'pipeline' (did you mean 'pipeline'?)" not in str(problem)
