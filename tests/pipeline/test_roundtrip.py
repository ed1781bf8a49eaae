"""load -> dump -> load is identical, and what evofarm writes obeys pipeline_ex's rules."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from evofarm.pipeline.loader import (
    dump_pipeline,
    load_pipeline,
    load_pipeline_text,
    pipeline_from_data,
    pipeline_to_data,
)

from .compat_corpus import CORPUS, valid_files
from .pipeline_ex_rules import pipeline_ex_problems


@pytest.mark.parametrize("name", valid_files())
def test_round_trip_is_identical(name: str) -> None:
    first = load_pipeline(CORPUS / name)
    text = dump_pipeline(first)
    second = load_pipeline_text(text, "dumped.yaml")
    assert second == first
    assert pipeline_to_data(second) == pipeline_to_data(first)
    assert dump_pipeline(second) == text
    assert pipeline_from_data(pipeline_to_data(first)) == first


@pytest.mark.parametrize("name", valid_files())
def test_dump_is_canonical_pipeline_ex_yaml(name: str) -> None:
    text = dump_pipeline(load_pipeline(CORPUS / name))
    document = yaml.safe_load(text)
    assert list(document) == ["workflow"]
    assert pipeline_ex_problems(document) == []
    for step in document["workflow"]["steps"]:
        assert list(step)[:2] == ["name", "type"]
        assert not isinstance(step.get("prompt"), str)


def test_short_form_reads_like_the_workflow_form() -> None:
    short = load_pipeline_text(
        """
name: demo
description: the META-PIPELINE short form
steps:
  - name: ask
    type: claude
    prompt: "Say hi to {{inputs.who}}"
"""
    )
    long = load_pipeline_text(
        """
workflow:
  name: demo
  description: the META-PIPELINE short form
  steps:
    - name: ask
      type: claude
      prompt:
        - type: static
          content: "Say hi to {{inputs.who}}"
"""
    )
    assert short == long
    assert pipeline_to_data(short) == pipeline_to_data(long)
    data = pipeline_to_data(short)
    assert data["steps"][0]["prompt"] == [{"type": "static", "content": "Say hi to {{inputs.who}}"}]


def test_canonical_data_is_json_and_hash_stable() -> None:
    pipeline = load_pipeline(CORPUS / "examples/comprehensive_config_example.yaml")
    data = pipeline_to_data(pipeline)
    encoded = json.dumps(data, sort_keys=True)
    again = json.dumps(pipeline_to_data(pipeline_from_data(json.loads(encoded))), sort_keys=True)
    assert (
        hashlib.sha256(encoded.encode()).hexdigest() == hashlib.sha256(again.encode()).hexdigest()
    )


def test_defaults_are_omitted_and_explicit_values_kept() -> None:
    pipeline = load_pipeline_text(
        """
workflow:
  name: t
  checkpoint_enabled: false
  description: null
  steps:
    - name: a
      type: transform
      input: "  Hi  "
      operations:
        - op: strip
        - op: pad
          width: 6
          side: left
          fill: " "
        - op: split
          separator: ","
          maxsplit: 2
"""
    )
    data = pipeline_to_data(pipeline)
    assert data["checkpoint_enabled"] is False
    assert "description" not in data
    assert data["steps"][0]["operations"] == [
        {"op": "strip"},
        {"op": "pad", "width": 6},
        {"op": "split", "separator": ",", "maxsplit": 2},
    ]


def test_aliased_keys_round_trip() -> None:
    text = """
workflow:
  name: t
  steps:
    - name: extract
      type: claude_extract
      prompt: [{type: static, content: x}]
      schema: {answer: string}
    - name: nested
      type: pipeline
      pipeline_file: other.yaml
      outputs: [simple, {path: a.b, as: ab}]
"""
    pipeline = load_pipeline_text(text)
    data = pipeline_to_data(pipeline)
    assert data["steps"][0]["schema"] == {"answer": "string"}
    assert data["steps"][1]["outputs"] == ["simple", {"path": "a.b", "as": "ab"}]
    assert load_pipeline_text(dump_pipeline(pipeline)) == pipeline


def test_multiline_strings_are_written_as_blocks() -> None:
    pipeline = load_pipeline_text(
        'name: t\nsteps:\n  - name: a\n    type: test_echo\n    value: "line one\\nline two\\n"\n'
    )
    text = dump_pipeline(pipeline)
    assert "value: |" in text
    assert load_pipeline_text(text) == pipeline


def test_strings_that_look_like_other_types_survive() -> None:
    pipeline = load_pipeline_text(
        """
name: t
steps:
  - name: a
    type: test_echo
    value: ["2024-01-01", "true", "1.5", "null", "0x1F", "~", 2024-01-02, "yes"]
"""
    )
    assert pipeline.steps[0].value == [  # type: ignore[union-attr]
        "2024-01-01",
        "true",
        "1.5",
        "null",
        "0x1F",
        "~",
        "2024-01-02",
        "yes",
    ]
    assert load_pipeline_text(dump_pipeline(pipeline)) == pipeline
