"""What evofarm writes passes pipeline_ex's own validation (``pipeline_ex_rules``).

The checker first has to agree with the corpus MANIFEST (pipeline_ex accepts the
files it runs and refuses the ones it refuses), so it can be trusted on what
evofarm writes: every canonical dump and every export of a pipeline that uses only
pipeline_ex's features must pass it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evofarm.errors import PipelineExportError
from evofarm.pipeline.export_ex import PIPELINE_EX_STEP_TYPES, export_pipeline
from evofarm.pipeline.loader import (
    dump_document,
    dump_pipeline,
    load_pipeline,
    load_pipeline_text,
)
from evofarm.pipeline.step_types import STEP_REGISTRY

from .compat_corpus import CORPUS, EXTRA, EXTRA_VALID, INVALID, PIPELINE_EX_REFUSES, valid_files
from .pipeline_ex_rules import SUPPORTED_TYPES, pipeline_ex_problems

PIPELINE_EX_FILES = [CORPUS / n for n in valid_files() if n not in PIPELINE_EX_REFUSES] + [
    EXTRA / n for n in sorted(EXTRA_VALID)
]


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


@pytest.mark.parametrize("path", PIPELINE_EX_FILES, ids=_ids(PIPELINE_EX_FILES))
def test_checker_accepts_the_files_pipeline_ex_runs(path: Path) -> None:
    assert pipeline_ex_problems(yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("name", sorted(INVALID | dict.fromkeys(PIPELINE_EX_REFUSES)))
def test_checker_refuses_the_files_pipeline_ex_refuses(name: str) -> None:
    assert pipeline_ex_problems(yaml.safe_load((CORPUS / name).read_text())) != []


@pytest.mark.parametrize("path", PIPELINE_EX_FILES, ids=_ids(PIPELINE_EX_FILES))
def test_canonical_dump_passes_pipeline_ex_validation(path: Path) -> None:
    text = dump_pipeline(load_pipeline(path))
    assert pipeline_ex_problems(yaml.safe_load(text)) == []


@pytest.mark.parametrize("path", PIPELINE_EX_FILES, ids=_ids(PIPELINE_EX_FILES))
def test_export_is_the_canonical_dump_for_pipeline_ex_only_pipelines(path: Path) -> None:
    pipeline = load_pipeline(path)
    exported = export_pipeline(pipeline)
    assert exported.notes == []
    assert dump_document(exported.data) == dump_pipeline(pipeline)


def test_short_form_dump_passes_where_the_file_itself_does_not() -> None:
    path = CORPUS / "examples/data_transform_example.yaml"
    assert pipeline_ex_problems(yaml.safe_load(path.read_text())) != []  # string prompts
    dumped = yaml.safe_load(dump_pipeline(load_pipeline(path)))
    assert pipeline_ex_problems(dumped) == []


def test_export_target_types_are_registered_and_known_to_pipeline_ex() -> None:
    assert set(STEP_REGISTRY.names()) >= PIPELINE_EX_STEP_TYPES
    assert PIPELINE_EX_STEP_TYPES - {"break", "continue"} <= SUPPORTED_TYPES


EVOFARM_ONLY = """\
name: winner
steps:
  - {name: ask, type: claude, prompt: "hi"}
  - {name: clean, type: transform, input: "{{steps.ask.result}}", operations: [{op: strip}]}
  - name: loop
    type: for_loop
    iterator: i
    data_source: [1]
    steps:
      - {name: code, type: python, code: "def run(v):\\n    return v\\n", input: 1}
"""


def test_export_refuses_evofarm_only_steps_naming_each() -> None:
    with pytest.raises(PipelineExportError) as caught:
        export_pipeline(load_pipeline_text(EVOFARM_ONLY), source="w.yaml")
    message = str(caught.value)
    assert "step 'clean' (transform)" in message
    assert "step 'code' (python)" in message
    assert caught.value.location.key == "steps[1].type"
    assert caught.value.location.file == "w.yaml"


def test_export_refuses_meta_steps_and_unknown_targets() -> None:
    meta = load_pipeline_text(
        "name: m\nsteps:\n  - {name: make, type: claude, prompt: x}\n"
        "  - {name: judge, type: pipeline_executor, pipeline_source: make, suite: s}\n"
    )
    with pytest.raises(PipelineExportError, match=r"step 'judge' \(pipeline_executor\)"):
        export_pipeline(meta)
    with pytest.raises(PipelineExportError, match="unknown export target 'airflow'"):
        export_pipeline(
            load_pipeline_text("name: a\nsteps: [{name: e, type: test_echo, value: 1}]"), "airflow"
        )


PROVIDERS = """\
name: tuned
providers:
  claude: {provider: mock, model: haiku}
  gemini: {provider: gemini, model: gemini-2.5-pro}
steps:
  - {name: a, type: claude, prompt: "one"}
  - {name: b, type: claude, prompt: "two", claude_options: {model: opus}}
  - {name: g, type: gemini, prompt: "three"}
  - name: fan
    type: parallel_claude
    parallel_tasks:
      - {id: t1, prompt: "x"}
"""


def test_export_translates_the_providers_mapping_into_step_models() -> None:
    exported = export_pipeline(load_pipeline_text(PROVIDERS))
    workflow = exported.data["workflow"]
    assert "providers" not in workflow
    steps = {s["name"]: s for s in workflow["steps"]}
    assert steps["a"]["claude_options"]["model"] == "haiku"
    assert steps["b"]["claude_options"]["model"] == "opus"  # its own model wins
    assert steps["g"]["model"] == "gemini-2.5-pro"
    assert steps["fan"]["parallel_tasks"][0]["claude_options"]["model"] == "haiku"
    assert any("providers.claude.provider 'mock': dropped" in n for n in exported.notes)
    assert any("-> claude_options.model of a, fan" in n for n in exported.notes)
    assert pipeline_ex_problems(exported.data) == []
    # What was written is still a pipeline evofarm reads.
    again = load_pipeline_text(dump_document(exported.data))
    assert again.providers is None


@pytest.mark.parametrize(
    ("step", "fragment"),
    [
        ({"name": "s", "type": "claude_session", "prompt": []}, "requires session_config"),
        ({"name": "t", "type": "transform", "input": "x"}, "invalid type 'transform'"),
        ({"name": "b", "type": "break"}, "invalid type 'break'"),
        ({"name": "p", "type": "claude", "prompt": "plain"}, "must be an array"),
        (
            {
                "name": "r",
                "type": "claude_robust",
                "prompt": [],
                "retry_config": {"backoff_strategy": "fixed"},
            },
            "backoff_strategy",
        ),
        ({"name": "x", "type": "claude_batch", "tasks": [{"id": 1}]}, "'file' or 'prompt'"),
        (
            {"name": "c", "type": "claude", "prompt": [{"type": "session_context"}]},
            "without session_id",
        ),
    ],
)
def test_checker_refuses_what_pipeline_ex_refuses(step: dict[str, object], fragment: str) -> None:
    problems = pipeline_ex_problems({"workflow": {"name": "w", "steps": [step]}})
    assert any(fragment in p for p in problems), problems


def test_checker_accepts_break_inside_a_loop() -> None:
    loop = {"name": "l", "type": "for_loop", "steps": [{"name": "b", "type": "break"}]}
    assert pipeline_ex_problems({"workflow": {"name": "w", "steps": [loop]}}) == []
