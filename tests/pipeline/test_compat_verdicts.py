"""Every file of the pipeline_ex corpus gets the verdict MANIFEST.md states."""

from __future__ import annotations

import pytest

from evofarm.errors import PipelineValidationError
from evofarm.pipeline.loader import check_pipeline_file, load_pipeline

from .compat_corpus import CORPUS, INVALID, corpus_files, valid_files


def test_corpus_has_the_manifest_files() -> None:
    files = corpus_files()
    assert len(files) >= 20
    for name in INVALID:
        assert name in files
    assert "examples/data_transform_example.yaml" in valid_files()


@pytest.mark.parametrize("name", valid_files())
def test_valid_file_loads_without_problems(name: str) -> None:
    report = check_pipeline_file(CORPUS / name)
    assert report.problems == []
    assert report.pipeline is not None
    assert load_pipeline(CORPUS / name) == report.pipeline


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_file_is_refused_for_the_stated_reason(name: str) -> None:
    step, words = INVALID[name]
    report = check_pipeline_file(CORPUS / name)
    assert not report.ok
    assert len(report.problems) == 1, [str(p) for p in report.problems]
    problem = report.problems[0]
    text = str(problem)
    assert f"'{step}'" in text
    for word in words:
        assert word in text
    assert problem.location.file == str(CORPUS / name)
    assert problem.location.line is not None


def test_unknown_step_type_is_a_validation_error_at_the_type_line() -> None:
    path = CORPUS / "test/fixtures/pipelines/nested_with_error.yaml"
    with pytest.raises(PipelineValidationError) as caught:
        load_pipeline(path)
    lines = path.read_text().splitlines()
    line = caught.value.location.line
    assert line is not None
    assert "invalid_step_type" in lines[line - 1]
    assert caught.value.location.key == "steps[1].type"


def test_missing_prompt_points_at_the_step() -> None:
    path = CORPUS / "examples/claude_output_formats_test.yaml"
    problem = check_pipeline_file(path).problems[0]
    assert problem.location.key == "steps[7].prompt"
    line = problem.location.line
    assert line is not None
    assert "test_session_format_switch" in path.read_text().splitlines()[line - 1]
