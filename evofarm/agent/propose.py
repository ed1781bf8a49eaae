"""The one seam where ``evofarm evolve`` asks for an improved pipeline.

:func:`propose` takes the current pipeline, the judge's evidence, the band's
instruction and a provider, and returns a validated candidate or ``None``. Two
implementations sit behind it:

* ``provider="mock"``: the offline, example-driven proposer behind
  ``reflective_mutation`` (:class:`~evofarm.evolution.example_proposer.ExampleProposer`),
  which needs no API key (it improves ``transform`` steps);
* any other provider: the campaign proposer machinery, i.e. the same
  ``pipelines/meta/reflective_mutation.yaml`` that ``llm_mutation`` runs
  (:class:`~evofarm.campaign.proposer.CampaignProposer`), with the band's
  instruction, the pipeline's YAML, the failing cases (inputs, each step's
  output, expected, which check failed) and the earlier attempts on this
  version; the reply is parsed strictly like any proposal
  (:func:`~evofarm.evolution.llm.proposal.parse_proposal`). Prose, broken
  YAML or an invalid pipeline give ``None`` with the reason counted.

With ``step`` only that step may change: the proposal's version of the step
(its prompt, for an LLM step) is put into the current pipeline and everything
else stays as it was.

Callers depend only on this function's signature and :class:`ProposalUsage`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evofarm.campaign.proposer import CampaignProposer, proposer_slots
from evofarm.campaign.spec import ProposerConfig
from evofarm.errors import FarmError, ProviderError, UserInputError
from evofarm.evolution.example_proposer import ExampleProposer
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.prompting import feedback_text, fitness_text, step_types_text
from evofarm.evolution.llm.proposal import ProposalRejected, parse_proposal
from evofarm.evolution.llm.runtime import ProposerFailed
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.proposals import Evidence
from evofarm.pipeline.loader import (
    dump_pipeline,
    pipeline_from_data,
    pipeline_to_data,
)
from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.validate import validate_pipeline
from evofarm.providers.base import Provider, ProviderSlots
from evofarm.providers.registry import ProviderSet
from evofarm.settings import get_settings

OFFLINE = "mock"


@dataclass
class ProposalUsage:
    """Tokens and cost of the proposals made through one :func:`propose` caller."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    discarded: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def discard(self, reason: str) -> None:
        """Count a proposal thrown away for ``reason``."""
        self.discarded[reason] = self.discarded.get(reason, 0) + 1


def _only_step(current: Pipeline, proposal: Pipeline, step: str) -> Pipeline | None:
    """``current`` with ``step`` taken from ``proposal`` (None if it has no such step)."""
    data = pipeline_to_data(current)
    proposed = {s["name"]: s for s in pipeline_to_data(proposal).get("steps", [])}
    new_step = proposed.get(step)
    if new_step is None:
        return None
    steps: list[dict[str, Any]] = data.get("steps", [])
    for index, old in enumerate(steps):
        if old.get("name") == step:
            if "prompt" in old and "prompt" in new_step:
                steps[index] = {**old, "prompt": new_step["prompt"]}
            else:
                steps[index] = new_step
    try:
        spliced = pipeline_from_data(data, "<proposal>")
        validate_pipeline(spliced)
    except UserInputError:
        return None
    return spliced


def _offline(pipeline: Pipeline, evidence: Evidence, attempt: int) -> Pipeline | None:
    parent = Genome.from_data(pipeline_to_data(pipeline))
    try:
        proposal = ExampleProposer()(
            parent, evidence, random.Random(attempt), OperatorContext(generation=0)
        )
        if proposal is not None:
            validate_pipeline(proposal)
    except FarmError:
        return None
    return proposal


def _slots(provider: str | Provider, model: str) -> ProviderSlots:
    """The proposer's slots: a provider name as a campaign's ``proposer:`` binds it,
    or a ready provider (tests), both with ``model`` pinned."""
    if isinstance(provider, str):
        return proposer_slots(ProposerConfig(provider=provider, model=model), get_settings())
    pinned = {"claude": {"model": model}}
    return ProviderSet.using(provider).with_overrides(pinned, pin=True).locked()


def reflection_inputs(
    pipeline: Pipeline,
    evidence: Evidence,
    instruction: str,
    step: str | None,
    earlier: Sequence[str],
) -> dict[str, str]:
    """Inputs of ``reflective_mutation.yaml`` for one ``evolve`` attempt."""
    scope = (
        f" Change only the step `{step}` (its prompt); every other step must stay as it is."
        if step is not None
        else ""
    )
    return {
        "candidate_yaml": dump_pipeline(pipeline),
        "fitness": fitness_text(evidence),
        "feedback": feedback_text(evidence),
        "attempts": "\n".join(f"{i}. {e}" for i, e in enumerate(earlier, 1)) or "(none yet)",
        "focus": step or "(the step the failing cases point to)",
        "step_types": step_types_text(),
        "instruction": instruction + scope,
    }


def _reflect(
    pipeline: Pipeline,
    inputs: dict[str, str],
    provider: str | Provider,
    model: str,
    meter: ProposalUsage,
) -> Pipeline | None:
    """One run of the reflective mutation meta pipeline; its validated proposal or None."""
    name = provider if isinstance(provider, str) else provider.name
    runtime = CampaignProposer(
        ProposerConfig.model_construct(provider=name, model=model), slots=_slots(provider, model)
    ).metered()
    parent = Genome.from_data(pipeline_to_data(pipeline))
    try:
        reply = runtime.ask("mutation", inputs)
        proposal = parse_proposal(reply, parent.pipeline, source="<evolve proposal>")
        validate_pipeline(proposal)  # a proposal needing repair is not one evolve keeps
    except ProposerFailed as exc:
        if isinstance(exc.__context__, ProviderError):
            raise exc.__context__ from None
        meter.discard("proposer_error")
        return None
    except ProposalRejected as exc:
        meter.discard(exc.reason)
        return None
    except UserInputError:
        meter.discard("dangling_reference")
        return None
    finally:
        used = runtime.usage
        meter.calls += used.calls
        meter.input_tokens += used.input_tokens
        meter.output_tokens += used.output_tokens
        meter.cost_usd += used.cost_usd
    return proposal


def propose(
    pipeline: Pipeline,
    evidence: Evidence,
    instruction: str,
    provider: str | Provider,
    model: str,
    *,
    step: str | None = None,
    earlier: Sequence[str] = (),
    attempt: int = 0,
    usage: ProposalUsage | None = None,
) -> Pipeline | None:
    """A validated improved pipeline, or None when no usable proposal came back.

    Args:
        pipeline: the current version.
        evidence: how it did (failing cases first).
        instruction: what kind of change to make (the band's instruction).
        provider: a provider name (``mock``: the offline proposer) or a provider.
        model: the model (or alias) asked.
        step: change only this step (its prompt).
        earlier: one line per earlier attempt on this version.
        attempt: the attempt number; seeds the offline proposer's choices.
        usage: where tokens, cost and discard reasons are added.

    Raises:
        ProviderError: the provider cannot be built or failed after its retries.
    """
    meter = usage if usage is not None else ProposalUsage()
    if provider == OFFLINE:
        proposal = _offline(pipeline, evidence, attempt)
        if proposal is None:
            meter.discard("no_proposal")
    else:
        inputs = reflection_inputs(pipeline, evidence, instruction, step, earlier)
        proposal = _reflect(pipeline, inputs, provider, model, meter)
    if proposal is None:
        return None
    if step is not None:
        proposal = _only_step(pipeline, proposal, step)
        if proposal is None:
            meter.discard("step_missing")
            return None
    if pipeline_to_data(proposal) == pipeline_to_data(pipeline):
        meter.discard("identical")
        return None
    return proposal
