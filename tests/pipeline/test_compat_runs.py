"""Every valid file of the pipeline_ex corpus runs to completion with the mock provider.

Some files need what pipeline_ex needs too: inputs (``explain_code``: a
``code_file``), files their ``file`` prompt parts read (pipeline_ex fails on a
missing file, and so does evofarm: see ``test_missing_prompt_file_fails``) and,
for ``data_transform_example``, sample data from its first step (pipeline_ex's
mock answers plain text there; a scripted mock answer supplies the JSON the
file expects).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline
from evofarm.providers.mock import MockProvider

from .compat_corpus import CORPUS, valid_files
from .exec_helpers import make_runtime

SAMPLE_DATA = {
    "orders": [
        {"id": 1, "user_id": 1, "total": 250.0, "status": "completed", "created_at": "2024-01-02"},
        {"id": 2, "user_id": 2, "total": 80.0, "status": "completed", "created_at": "2024-01-03"},
        {"id": 3, "user_id": 1, "total": 410.0, "status": "completed", "created_at": "2024-01-04"},
        {"id": 4, "user_id": 3, "total": 120.0, "status": "pending", "created_at": "2024-01-05"},
        {"id": 5, "user_id": 2, "total": 130.0, "status": "completed", "created_at": "2024-01-06"},
    ],
    "users": [
        {"id": 1, "name": "Ann", "email": "a@example.org", "tier": "gold"},
        {"id": 2, "name": "Bob", "email": "b@example.org", "tier": "silver"},
        {"id": 3, "name": "Cy", "email": "c@example.org", "tier": "bronze"},
    ],
    "products": [
        {"id": 1, "name": "Phone", "category": "electronics", "price": 500, "rating": 4.5},
        {"id": 2, "name": "Novel", "category": "books", "price": 15, "rating": 3.9},
        {"id": 3, "name": "Shirt", "category": "clothing", "price": 30, "rating": 4.2},
    ],
}


def _code_file(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "module.py").write_text("def add(a, b):\n    return a + b\n")
    return {"code_file": "module.py"}


def _comprehensive(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "lib" / "pipeline").mkdir(parents=True)
    (tmp_path / "lib" / "pipeline" / "config.ex").write_text("defmodule Config do\nend\n")
    (tmp_path / "workspace" / "docs").mkdir(parents=True)
    (tmp_path / "workspace" / "docs" / "documentation.md").write_text("# Docs\n")
    return {}


def _performance(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "test_data.txt").write_text("line one\nline two\n")
    return {}


FIXTURES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "workflows/explain_code.yaml": _code_file,
    "examples/comprehensive_config_example.yaml": _comprehensive,
    "examples/performance_demo.yaml": _performance,
}
PROVIDERS: dict[str, Callable[[], MockProvider]] = {
    "examples/data_transform_example.yaml": lambda: MockProvider(
        responses={"Generate sample e-commerce data": json.dumps(SAMPLE_DATA)}
    ),
}


@pytest.mark.parametrize("name", valid_files())
def test_corpus_file_runs_with_the_mock_provider(name: str, tmp_path: Path) -> None:
    inputs = FIXTURES[name](tmp_path) if name in FIXTURES else {}
    provider = PROVIDERS[name]() if name in PROVIDERS else None
    runtime = make_runtime(tmp_path, provider=provider)
    trace = run_pipeline(load_pipeline(CORPUS / name), inputs, runtime=runtime)
    assert trace.status == "completed", f"{name}: {trace.error}"
    pipeline = load_pipeline(CORPUS / name)
    assert set(trace.steps) == {step.name for step in pipeline.steps}
    llm_steps = [s for s in trace.steps.values() if s.llm_calls]
    assert all(s.input_tokens > 0 and s.output_tokens > 0 for s in llm_steps)
    assert trace.usage.llm_calls == sum(s.llm_calls for s in trace.steps.values())


def test_expected_template_run_from_the_manifest(tmp_path: Path) -> None:
    pipeline = load_pipeline(CORPUS / "test/fixtures/pipelines/nested_processor.yaml")
    trace = run_pipeline(
        pipeline,
        {"item_name": "widget", "item_count": 3, "multiplier": 4},
        runtime=make_runtime(tmp_path),
    )
    assert trace.status == "completed"
    steps = trace.steps
    assert steps["process_input"].result == "Processing widget with count 3"
    assert steps["multiply_count"].result == 12
    assert steps["final_count"].result == 12
    assert steps["analysis"].result["summary"] == "Processed widget successfully"
    assert steps["analysis"].result["details"] == "Final count: 12"


def test_data_transform_example_results(tmp_path: Path) -> None:
    provider = PROVIDERS["examples/data_transform_example.yaml"]()
    pipeline = load_pipeline(CORPUS / "examples/data_transform_example.yaml")
    trace = run_pipeline(pipeline, {}, runtime=make_runtime(tmp_path, provider=provider))
    assert [o["id"] for o in trace.steps["filter_high_value_orders"].result] == [3, 1, 5]
    assert trace.steps["calculate_tier_stats"].result == pytest.approx(330.0)
    premium = trace.steps["categorize_products"].result
    names = [(p["name"], p["category"]) for p in premium]
    assert names == [("Phone", "tech"), ("Shirt", "fashion")]


def test_comprehensive_example_skips_on_its_complex_condition(tmp_path: Path) -> None:
    _comprehensive(tmp_path)
    pipeline = load_pipeline(CORPUS / "examples/comprehensive_config_example.yaml")
    trace = run_pipeline(pipeline, {}, runtime=make_runtime(tmp_path))
    assert not trace.steps["quality_assessment"].skipped  # implement_fixes.success
    deploy = trace.steps["deployment_prep"]
    assert deploy.skipped  # mock scores carry no overall_score >= 8
    assert deploy.skip_reason == "Condition not met: quality_assessment.overall_score >= 8"
    assert (tmp_path / "workspace" / "analysis.json").is_file()


def test_missing_prompt_file_fails(tmp_path: Path) -> None:
    pipeline = load_pipeline(CORPUS / "workflows/explain_code.yaml")
    trace = run_pipeline(pipeline, {"code_file": "absent.py"}, runtime=make_runtime(tmp_path))
    assert trace.status == "failed" and trace.error_step == "explain"
    assert "absent.py" in (trace.error or "")
