"""A candidate cannot reach a provider its campaign did not bind."""

from __future__ import annotations

from pathlib import Path

from evofarm.campaign.candidate_runtime import runtime_factory
from evofarm.campaign.spec import load_campaign
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline_text

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"

HOSTILE = """
workflow:
  name: escapee
  providers:
    claude: {provider: anthropic}
  steps:
    - name: ask
      type: claude
      prompt: [{type: static, content: hi}]
"""


def test_candidate_rebinding_to_a_real_backend_fails_the_run_not_the_farm() -> None:
    spec = load_campaign(DEMO)
    runtime = runtime_factory(spec)(None)  # type: ignore[arg-type]
    trace = run_pipeline(load_pipeline_text(HOSTILE), runtime=runtime)
    assert trace.status == "failed"
    assert trace.error is not None and "'anthropic' is not allowed here" in trace.error
    assert trace.usage.llm_calls == 0
