"""pipeline_executor in in-process campaign evaluations: suites beside the campaign's suite."""

from __future__ import annotations

import json
from pathlib import Path

from evofarm.campaign.candidate_runtime import runtime_factory, suites_dir_for
from evofarm.campaign.spec import load_campaign
from evofarm.fitness.runner import evaluate_pipeline
from evofarm.settings import Settings

META = """\
name: meta
inputs: {child: ""}
steps:
  - name: genesis
    type: test_echo
    value: "{{inputs.child}}"
  - name: evaluate
    type: pipeline_executor
    pipeline_source: genesis
    suite: inner
"""
INNER = """\
name: inner
cases:
  - {id: a, inputs: {text: alpha}, checks: [{type: equals, value: alpha, required: true}]}
  - {id: b, inputs: {text: beta}, checks: [{type: equals, value: beta, required: true}]}
"""
CHILD = "name: child\nsteps:\n  - {name: out, type: test_echo, value: '{{inputs.text}}'}\n"
HALF = "name: child\nsteps:\n  - {name: out, type: test_echo, value: alpha}\n"
OUTER = f"""\
name: outer
cases:
  - id: good
    inputs: {{child: {json.dumps(CHILD)}}}
    checks: [{{type: numeric, path: output.passed, value: 2, required: true}}]
  - id: half
    inputs: {{child: {json.dumps(HALF)}}}
    checks: [{{type: numeric, path: output.passed, value: 1, required: true}}]
"""
CAMPAIGN = """\
name: nested
seeds: [meta.yaml]
suite: outer.yaml
providers:
  claude: {provider: mock}
evolution: {population: 2, offspring: 2, generations: 1}
"""


def test_in_process_evaluation_scores_nested_pipelines(tmp_path: Path) -> None:
    for name, text in {
        "meta.yaml": META,
        "outer.yaml": OUTER,
        "inner.yaml": INNER,
        "campaign.yaml": CAMPAIGN,
    }.items():
        (tmp_path / name).write_text(text)
    spec = load_campaign(tmp_path / "campaign.yaml")
    assert suites_dir_for(spec, Settings()) == tmp_path
    assert suites_dir_for(spec, Settings(suites_dir=Path("/x"))) == Path("/x")
    evaluation = evaluate_pipeline(
        spec.load_seeds()[0],
        spec.load_suite(),
        runtime_factory=runtime_factory(spec),
    )
    assert (evaluation.outcome, evaluation.test_rate) == ("ok", 1.0), evaluation.cases
