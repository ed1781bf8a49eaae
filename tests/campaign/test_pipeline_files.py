"""A campaign's candidates read only its own pipeline files, never its suite."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from evofarm.campaign.candidate_runtime import runtime_factory
from evofarm.campaign.pipeline_files import pipeline_files
from evofarm.campaign.spec import load_campaign
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline
from evofarm.providers.registry import ProviderSet
from evofarm.sandbox.parent.batch import run_pipeline_batch_sandboxed

ROOT = Path(__file__).resolve().parents[2]

SEED = """\
name: peek
steps:
  - name: style
    type: claude
    prompt:
      - {type: file, path: style.md}
      - {type: static, content: "{{inputs.name}}"}
  - name: nested
    type: pipeline
    pipeline_file: inner.yaml
  - name: cheat
    type: claude
    prompt:
      - {type: file, path: suite.yaml}
"""
INNER = "name: inner\nsteps:\n  - {name: a, type: claude, prompt: [{type: file, path: tone.md}]}\n"


def _campaign(tmp_path: Path) -> Path:
    folder = tmp_path / "campaign"
    folder.mkdir()
    (folder / "seed.yaml").write_text(SEED)
    (folder / "inner.yaml").write_text(INNER)
    (folder / "style.md").write_text("Be terse.")
    (folder / "tone.md").write_text("Be kind.")
    (folder / "notes.md").write_text("not named by any pipeline")
    shutil.copy(ROOT / "pipelines/suites/contacts.yaml", folder / "suite.yaml")
    data = yaml.safe_load((ROOT / "pipelines/campaigns/demo.yaml").read_text())
    data.update(seeds=["seed.yaml"], suite="suite.yaml")
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_allow_list_follows_the_pipelines_and_never_holds_the_suite(tmp_path: Path) -> None:
    spec = load_campaign(_campaign(tmp_path))
    folder = (tmp_path / "campaign").resolve()
    names = {"seed.yaml", "inner.yaml", "style.md", "tone.md"}
    assert pipeline_files(spec) == frozenset(folder / n for n in names)


def test_a_file_part_naming_the_suite_beside_the_seed_is_refused(tmp_path: Path) -> None:
    spec = load_campaign(_campaign(tmp_path))
    seed = load_pipeline(spec.seed_paths[0])
    runtime = runtime_factory(spec)(spec.load_suite().cases[0])
    trace = run_pipeline(seed, {"name": "ada"}, runtime=runtime)
    assert trace.status == "failed" and trace.error is not None
    # The listed files were read (the first steps ran), the suite was refused.
    assert list(trace.steps)[:2] == ["style", "nested"] and trace.error_step == "cheat"
    assert "prompt file 'suite.yaml' is not one of the campaign's pipeline files" in trace.error


def test_in_the_sandbox_only_the_listed_files_are_there(tmp_path: Path) -> None:
    spec = load_campaign(_campaign(tmp_path))
    seed = load_pipeline(spec.seed_paths[0])
    listed = pipeline_files(spec)
    result = run_pipeline_batch_sandboxed(
        seed,
        [("c1", {"name": "ada"})],
        llm=ProviderSet.for_provider("mock").as_provider(),
        base_dir=spec.seed_paths[0].parent,
        read_files=listed,
    )
    report = result.cases["c1"]
    assert report.outcome.value == "candidate_error", report
    assert "prompt file 'suite.yaml' is not one of the campaign's pipeline files" in (
        report.message or ""
    )
    # The listed files were there (the steps before ran); the suite was not even shown.
    assert list(report.value["steps"])[:2] == ["style", "nested"]
