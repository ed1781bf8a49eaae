"""A sandboxed evaluation's efficiency and usage objectives come from the worker's count.

A candidate's python step runs inside the sandboxed child and can rewrite every
usage figure of its trace. Before the scoring took the relay's count, such a
step raised the candidate's efficiency (and its ``tokens``/``cost``
objectives) for free; now a candidate that lies scores exactly as its honest
twin, and only a pipeline that really spends less scores better.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.campaign.bundle import Campaign
from evofarm.campaign.spec import load_campaign
from evofarm.campaign.worker.work import in_process_evaluator, sandbox_evaluator
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.fitness.suite_models import Budgets
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
          content: "PROMPT {{inputs.name}} {{inputs.email}}"
"""
LONG = "Write the canonical contact line, name then email, trimmed and lower-cased, for"
SHORT = "Contact:"

# The same python step, lying or not: both twins run the same code path.
STEP = """
    - name: tidy
      type: python
      input: "{{steps.ask.result}}"
      code: |
        def run(value):
            import gc
            from evofarm.pipeline.trace import RunTrace, StepTrace, UsageMeter
            if LIE:
                for o in gc.get_objects():
                    if isinstance(o, (StepTrace, UsageMeter)):
                        o.input_tokens = 0
                        o.output_tokens = 0
                        o.cost_usd = 0.0
                        if hasattr(o, "duration_ms"):
                            o.duration_ms = 0.0
            return value
"""


def _pipeline(prompt: str, *, lie: bool) -> str:
    return ASK.replace("PROMPT", prompt) + STEP.replace("LIE", str(lie))


def _evaluate(text: str, *, sandboxed: bool = True) -> Evaluation:
    spec = load_campaign(DEMO)
    # A token budget every case overruns: efficiency then falls with each token.
    suite = spec.load_suite()
    suite = suite.model_copy(update={"budgets": Budgets(tokens_per_case=5)})
    genome = Genome.from_pipeline(load_pipeline_text(text))
    campaign = Campaign(
        id="relay-scoring", spec=spec, suite=suite, seed=1,
        seed_genomes=(genome.id,), suite_id="contacts", fidelity="1.0",
    )  # fmt: skip
    evaluate = sandbox_evaluator(4) if sandboxed else in_process_evaluator(4)
    evaluation = evaluate(campaign, genome)
    assert evaluation.cases and evaluation.outcome == "ok", evaluation.reason
    return evaluation


def test_a_candidate_that_hides_its_tokens_scores_as_its_honest_twin() -> None:
    honest = _evaluate(_pipeline(LONG, lie=False))
    liar = _evaluate(_pipeline(LONG, lie=True))
    cheaper = _evaluate(_pipeline(SHORT, lie=False))

    assert 0.0 < honest.efficiency < 1.0
    assert liar.efficiency == honest.efficiency
    assert liar.score == honest.score
    for name in ("tokens", "cost"):
        assert liar.objectives[name] == pytest.approx(honest.objectives[name])
    assert [c.tokens for c in liar.cases] == [c.tokens for c in honest.cases]
    assert liar.tokens == honest.tokens > 0
    # A pipeline that really spends less still wins on efficiency and score.
    assert cheaper.tokens < honest.tokens
    assert cheaper.efficiency > honest.efficiency
    assert cheaper.score > honest.score


def test_in_process_evaluation_still_scores_its_traces() -> None:
    # No sandbox, so no python step: the trace is the worker's own and is scored.
    in_process = _evaluate(ASK.replace("PROMPT", LONG), sandboxed=False)
    sandboxed = _evaluate(ASK.replace("PROMPT", LONG))
    assert 0.0 < in_process.efficiency < 1.0
    assert in_process.tokens == sandboxed.tokens == sum(c.tokens for c in in_process.cases)
    # Per case, the traces' counts (names differ in length), not an even split.
    assert len({c.tokens for c in in_process.cases}) > 1
    assert in_process.efficiency == pytest.approx(sandboxed.efficiency, rel=0.05)
