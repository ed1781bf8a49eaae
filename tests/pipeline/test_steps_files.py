"""file_ops, file prompt parts, nested pipelines and conditional_deploy: confinement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evofarm.pipeline.loader import load_pipeline

from .exec_helpers import run_text


def test_file_ops_operations_inside_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.txt").write_text("hello\nworld\n")
    (tmp_path / "data" / "cfg.yaml").write_text("a: 1\nb: [x, y]\n")
    trace = run_text(
        """
name: files
steps:
  - name: copy
    type: file_ops
    operation: copy
    source: data/in.txt
    destination: copies/in.txt
  - name: upper
    type: file_ops
    operation: stream_process
    source: copies/in.txt
    destination: copies/upper.txt
    processor: uppercase
  - name: convert
    type: file_ops
    operation: convert
    source: data/cfg.yaml
    destination: cfg.json
    format: json
  - name: check
    type: file_ops
    operation: validate
    files:
      - copies/upper.txt
      - {path: cfg.json, must_be_file: true, min_size: 5}
  - name: move
    type: file_ops
    operation: move
    source: copies/in.txt
    destination: moved.txt
  - name: listing
    type: file_ops
    operation: list
    pattern: "*.txt"
    recursive: true
  - name: remove
    type: file_ops
    operation: delete
    path: moved.txt
""",
        tmp_path,
    )
    assert trace.status == "completed", trace.error
    workspace = tmp_path / "workspace"
    assert (workspace / "copies" / "upper.txt").read_text() == "HELLO\nWORLD\n"
    assert json.loads((workspace / "cfg.json").read_text()) == {"a": 1, "b": ["x", "y"]}
    assert trace.steps["copy"].result["bytes"] == 12
    assert trace.steps["upper"].result["lines"] == 2
    assert trace.steps["check"].result["valid"] is True
    assert trace.steps["listing"].result == ["copies/upper.txt", "moved.txt"]
    assert not (workspace / "moved.txt").exists()
    assert (tmp_path / "data" / "in.txt").exists()  # the read-only source is untouched


@pytest.mark.parametrize(
    ("operation", "words"),
    [
        ("operation: copy\n    source: data.txt\n    destination: ../out.txt", "outside"),
        ("operation: copy\n    source: /etc/hostname\n    destination: x.txt", "outside"),
        ("operation: delete\n    path: ../data.txt", "outside"),
        ("operation: move\n    source: data.txt\n    destination: x.txt", "does not exist"),
        ("operation: validate\n    files: [nothing.txt]", "does not exist"),
        ("operation: stream_process\n    source: data.txt\n    processor: rot13", "rot13"),
    ],
)
def test_file_ops_refusals(tmp_path: Path, operation: str, words: str) -> None:
    (tmp_path / "data.txt").write_text("x")
    text = f"name: f\nsteps:\n  - name: op\n    type: file_ops\n    {operation}\n"
    trace = run_text(text, tmp_path)
    assert trace.status == "failed" and words in (trace.error or "")
    assert (tmp_path / "data.txt").exists()
    assert not (tmp_path / "out.txt").exists()


def test_file_prompt_parts_are_confined(tmp_path: Path) -> None:
    (tmp_path / "code.py").write_text("print('hi')")
    ok = run_text(
        "name: p\nsteps:\n  - name: a\n    type: claude\n    prompt:\n"
        "      - type: file\n        path: '{{ code_file }}'\n",
        tmp_path,
        {"code_file": "code.py"},
    )
    assert ok.output == "Mock response for: print('hi')..."
    escape = run_text(
        "name: p\nsteps:\n  - name: a\n    type: claude\n    prompt:\n"
        "      - type: file\n        path: /etc/passwd\n",
        tmp_path,
    )
    assert escape.status == "failed" and "outside" in (escape.error or "")


def test_nested_pipeline_file_inputs_and_outputs(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text(
        """
workflow:
  name: child
  steps:
    - name: greet
      type: test_echo
      value: "hello {{inputs.who}} ({{global_vars.env}})"
    - name: info
      type: test_echo
      value: {size: "{{inputs.n}}"}
"""
    )
    trace = run_text(
        """
workflow:
  name: parent
  global_vars: {env: prod}
  steps:
    - name: sub
      type: pipeline
      pipeline_file: child.yaml
      inputs: {who: "{{inputs.name}}", n: 3}
      config: {inherit_context: true}
      outputs:
        - greet
        - {path: info.result.size, as: size}
    - name: use
      type: test_echo
      value: "{{steps.sub.size}} / {{steps.sub.result.greet}}"
""",
        tmp_path,
        {"name": "ann"},
    )
    assert trace.status == "completed", trace.error
    assert trace.steps["sub"].result == {"greet": "hello ann (prod)", "size": 3}
    assert trace.output == "3 / hello ann (prod)"


def test_nested_pipeline_missing_output_fails(tmp_path: Path) -> None:
    trace = run_text(
        """
name: parent
steps:
  - name: sub
    type: pipeline
    pipeline:
      name: child
      steps:
        - {name: a, type: test_echo, value: 1}
    outputs: [nope]
""",
        tmp_path,
    )
    assert trace.status == "failed" and "'nope' not found" in (trace.error or "")


DEPLOY = """
name: meta
steps:
  - name: produce
    type: test_echo
    value: |
      name: offspring
      steps:
        - name: hello
          type: test_echo
          value: hi
  - name: score
    type: test_echo
    value: {score}
  - name: deploy
    type: conditional_deploy
    condition: "score.result >= 0.8"
    pipeline_source: "{{{{steps.produce.result}}}}"
    target: "deployed/{{{{inputs.name}}}}.yaml"
"""


def test_conditional_deploy_promotes_when_the_condition_holds(tmp_path: Path) -> None:
    trace = run_text(DEPLOY.format(score=0.9), tmp_path, {"name": "best"})
    assert trace.status == "completed", trace.error
    assert trace.output == {
        "deployed": True,
        "target": "deployed/best.yaml",
        "pipeline": "offspring",
        "steps": 1,
    }
    deployed = tmp_path / "workspace" / "deployed" / "best.yaml"
    assert "workflow" in yaml.safe_load(deployed.read_text())
    assert load_pipeline(deployed).name == "offspring"


def test_conditional_deploy_skips_when_the_condition_fails(tmp_path: Path) -> None:
    trace = run_text(DEPLOY.format(score=0.5), tmp_path, {"name": "best"})
    assert trace.steps["deploy"].skipped
    assert not (tmp_path / "workspace" / "deployed").exists()


def test_conditional_deploy_refuses_invalid_pipelines_and_escapes(tmp_path: Path) -> None:
    bad = DEPLOY.format(score=0.9).replace("type: test_echo\n          value: hi", "type: bogus")
    trace = run_text(bad, tmp_path, {"name": "best"})
    assert trace.status == "failed" and "invalid" in (trace.error or "")
    escape = run_text(DEPLOY.format(score=0.9), tmp_path, {"name": "../../evil"})
    assert escape.status == "failed" and "outside" in (escape.error or "")


def test_symlinks_cannot_lead_out_of_the_workspace(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "link").symlink_to(outside, target_is_directory=True)
    read = run_text(
        "name: s\nsteps:\n  - name: a\n    type: claude\n    prompt:\n"
        "      - {type: file, path: workspace/link/secret.txt}\n",
        tmp_path,
    )
    assert read.status == "failed" and "outside" in (read.error or "")
    write = run_text(
        "name: s\nsteps:\n  - name: a\n    type: test_echo\n    value: pwned\n"
        "    output_to_file: link/secret.txt\n",
        tmp_path,
    )
    assert write.status == "failed" and "outside" in (write.error or "")
    assert (outside / "secret.txt").read_text() == "secret"
