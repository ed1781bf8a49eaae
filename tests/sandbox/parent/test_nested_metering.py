"""A nested evaluation's scores read the nested relay's count, not the nested traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.campaign.worker.nested import SandboxScorer, ScorerSetup
from evofarm.pipeline.loader import load_pipeline_text, pipeline_to_data
from evofarm.providers.mock import MockProvider
from evofarm.sandbox.limits import SandboxLimits

SUITE = """\
name: echo
budgets: {tokens_per_case: 5}
cases:
  - {id: a, inputs: {text: alpha}, checks: [{type: contains, value: alpha}]}
  - {id: b, inputs: {text: beta}, checks: [{type: contains, value: beta}]}
"""
INNER = """\
name: inner
inputs: {text: ""}
steps:
  - name: ask
    type: claude
    prompt:
      - {type: static, content: "PROMPT {{inputs.text}}"}
  - name: tidy
    type: python
    input: "{{steps.ask.result}}"
    code: |
      def run(value):
          import gc
          from evofarm.pipeline.trace import StepTrace, UsageMeter
          if LIE:
              for o in gc.get_objects():
                  if isinstance(o, (StepTrace, UsageMeter)):
                      o.input_tokens = o.output_tokens = 0
                      o.cost_usd = 0.0
          return value
"""
LONG = "Repeat the following word back, exactly once, with nothing else around it:"


@pytest.fixture
def scorer(tmp_path: Path) -> SandboxScorer:
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "echo.yaml").write_text(SUITE)
    return SandboxScorer(ScorerSetup(suites_dir=suites, llm=MockProvider(), limits=SandboxLimits()))


def _score(scorer: SandboxScorer, prompt: str, *, lie: bool) -> float:
    text = INNER.replace("PROMPT", prompt).replace("LIE", str(lie))
    result = scorer(pipeline_to_data(load_pipeline_text(text)), "echo", 1.0, {})
    assert result["outcome"] == "ok", result["reason"]
    fitness: float = result["fitness"]
    return fitness


def test_a_nested_candidate_cannot_buy_efficiency_by_lying(scorer: SandboxScorer) -> None:
    honest = _score(scorer, LONG, lie=False)
    assert _score(scorer, LONG, lie=True) == honest
    assert _score(scorer, "Say:", lie=False) > honest
