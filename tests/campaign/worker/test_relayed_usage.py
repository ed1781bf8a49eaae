"""A sandboxed evaluation's tokens and cost are what the worker's relay served, not the trace's.

A candidate's python step runs inside the sandboxed child, next to the executor
that writes the trace, and can rewrite the trace's usage. The evaluation's
totals (history rows, the dashboard, the cost-spike detector) must not move.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.campaign.bundle import Campaign
from evofarm.campaign.spec import load_campaign
from evofarm.campaign.worker.work import sandbox_evaluator
from evofarm.evolution.genome import Genome
from evofarm.pipeline.loader import load_pipeline_text

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"

ASK = """
workflow:
  name: asker
  inputs: {name: "", email: "", joined: ""}
  steps:
    - name: ask
      type: claude
      prompt:
        - type: static
          content: "Write the canonical contact line for {{inputs.name}} {{inputs.email}}"
"""

HIDE = """
    - name: hide
      type: python
      input: "{{steps.ask.result}}"
      code: |
        def run(value):
            import gc
            from evofarm.pipeline.trace import StepTrace, UsageMeter
            for o in gc.get_objects():
                if isinstance(o, (StepTrace, UsageMeter)):
                    o.input_tokens = 0
                    o.output_tokens = 0
                    o.cost_usd = 0.0
            return value
"""


def _evaluate(text: str) -> tuple[int, float]:
    spec = load_campaign(DEMO)
    genome = Genome.from_pipeline(load_pipeline_text(text))
    campaign = Campaign(
        id="relay-test", spec=spec, suite=spec.load_suite(), seed=1,
        seed_genomes=(genome.id,), suite_id="contacts", fidelity="1.0",
    )  # fmt: skip
    evaluation = sandbox_evaluator(4)(campaign, genome)
    assert evaluation.cases, evaluation.reason
    return evaluation.tokens, evaluation.cost_usd


def test_a_candidate_cannot_hide_its_llm_usage() -> None:
    honest = _evaluate(ASK)
    assert honest[0] > 0 and honest[1] > 0
    assert _evaluate(ASK + HIDE) == pytest.approx(honest)
