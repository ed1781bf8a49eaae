"""Tokens per proposal of each meta pipeline, on the fake Anthropic server's usage.

Builds the inputs exactly as the LLM operators and genesis do, for the demo
campaign's seed and its evaluation on the demo suite (mock provider for the
candidate), runs each meta pipeline once through the proposer runtime against
:class:`~evofarm.testing.fake_anthropic.FakeAnthropicServer` (which bills
``ceil(chars / 4)`` tokens for the prompt and for the reply; the reply is the
seed pipeline in the strict format), and prints one JSON object: calls,
input/output tokens and cost (claude-haiku-4-5 prices) per meta pipeline.

Usage::

    python benchmarks/llm_proposal_tokens.py
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from evofarm.campaign.genesis import suite_summary
from evofarm.campaign.local.evaluator import make_evaluator
from evofarm.campaign.proposer import CampaignProposer
from evofarm.campaign.spec import ProposerConfig, load_campaign
from evofarm.evolution.examples import examples_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.prompting import crossover_inputs, genesis_inputs, mutation_inputs
from evofarm.evolution.proposals import evidence_of
from evofarm.pipeline.loader import dump_pipeline
from evofarm.settings import get_settings
from evofarm.testing.fake_anthropic import FakeAnthropicServer

DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "campaigns" / "demo.yaml"


def main() -> None:
    """Print the figures."""
    spec = load_campaign(DEMO)
    suite = spec.load_suite()
    seed = Genome.from_pipeline(spec.load_seeds()[0])
    evidence = evidence_of(make_evaluator(spec, suite)(seed), examples_of(suite))
    reply = f"CHANGE: x\nWHY: y\n```yaml\n{dump_pipeline(seed.to_pipeline())}```\n"
    figures: dict[str, dict[str, float]] = {}
    with FakeAnthropicServer(handler=lambda request: reply) as fake:
        os.environ["EVOFARM_ANTHROPIC_API_KEY"] = "fake"
        os.environ["EVOFARM_ANTHROPIC_BASE_URL"] = fake.base_url
        get_settings.cache_clear()
        config = ProposerConfig(provider="anthropic", model="claude-haiku-4-5")
        proposer = CampaignProposer(config, spec)
        request = "Canonicalise a contact record (name, e-mail, date) into one line"
        for meta, inputs in (
            ("mutation", mutation_inputs(seed, evidence, (), random.Random(0))),
            ("crossover", crossover_inputs(seed, seed, evidence, (), "goals")),
            ("genesis", genesis_inputs(request, suite_summary(suite), 1)),
        ):
            runtime = proposer.metered()
            runtime.ask(meta, inputs)  # type: ignore[arg-type]
            usage = runtime.usage
            figures[meta] = {
                "calls": usage.calls,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cost_usd": round(usage.cost_usd, 6),
            }
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
