"""The one seam where ``evofarm evolve`` asks for an improved pipeline.

:func:`propose` takes the current pipeline, the judge's evidence, the band's
instruction and a provider, and returns a validated candidate or ``None``. Two
implementations sit behind it:

* ``provider="mock"``: the offline, example-driven proposer behind
  ``reflective_mutation`` (:class:`~evofarm.evolution.example_proposer.ExampleProposer`),
  which needs no API key (it improves ``transform`` steps);
* any other provider: one LLM call with the instruction, the pipeline's YAML,
  the failing cases (which case, actual, expected, which check failed) and the
  earlier attempts on this version; the answer must hold the whole pipeline in
  one fenced ``yaml`` block, which is parsed with the loader's limits and
  validated. Prose, broken YAML or an invalid pipeline give ``None``.

With ``step`` only that step may change: the proposal's version of the step
(its prompt, for an LLM step) is put into the current pipeline and everything
else stays as it was.

The lead may later point this seam at the campaign proposer machinery; callers
depend only on this function's signature and :class:`ProposalUsage`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evofarm.errors import FarmError, UserInputError
from evofarm.evolution.example_proposer import ExampleProposer
from evofarm.evolution.genome import Genome
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.proposals import Evidence
from evofarm.pipeline.loader import (
    dump_pipeline,
    load_pipeline_text,
    pipeline_from_data,
    pipeline_to_data,
)
from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.validate import validate_pipeline
from evofarm.providers.base import LLMRequest, Provider
from evofarm.providers.registry import make_provider

OFFLINE = "mock"
#: Longest answer parsed (characters); a longer one is discarded unread.
MAX_ANSWER_CHARS = 64_000
MAX_TOKENS = 4096
_FENCE = re.compile(r"```(?:yaml|yml)[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)

SYSTEM = (
    "You improve YAML pipelines (pipeline_ex format) that an evaluator scores on test "
    "cases. You are shown the pipeline, its fitness, failing cases with the expected "
    "output and why each check failed, and earlier attempts that were not better. "
    "Diagnose the cause of the failures first, then make the change the instruction "
    "asks for. Do not repeat an earlier attempt. Answer with a short explanation "
    "followed by the WHOLE improved pipeline in exactly one ```yaml fenced block."
)


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


def _evidence_text(evidence: Evidence) -> str:
    lines = [f"fitness {evidence.fitness:.4f}, test rate {evidence.test_rate:.4f}"]
    for case in evidence.cases:
        state = "PASSED" if case.passed else "FAILED"
        lines.append(f"- case {case.case_id} ({state})")
        lines.append(f"  inputs: {json.dumps(case.inputs, ensure_ascii=False)}")
        lines.append(f"  actual output: {json.dumps(case.actual, ensure_ascii=False)}")
        if case.expected is not None:
            lines.append(f"  expected output: {json.dumps(case.expected, ensure_ascii=False)}")
        for reason in case.reasons:
            lines.append(f"  failed check: {reason}")
    return "\n".join(lines)


def prompt_text(
    pipeline: Pipeline,
    evidence: Evidence,
    instruction: str,
    *,
    step: str | None = None,
    earlier: Sequence[str] = (),
) -> str:
    """The user turn of an LLM proposal (public so tests and docs can show it)."""
    parts = [
        f"## Instruction\n{instruction}",
        f"## Current pipeline\n```yaml\n{dump_pipeline(pipeline)}```",
        f"## Evidence\n{_evidence_text(evidence)}",
    ]
    if step is not None:
        parts.append(
            f"## Scope\nChange only the step named {step!r} (its prompt); "
            "every other step must stay exactly as it is."
        )
    if earlier:
        listed = "\n".join(f"- {e}" for e in earlier)
        parts.append(f"## Earlier attempts on this version (not better; do not repeat)\n{listed}")
    parts.append(
        "## Answer format\nOne or two sentences on what you changed and why, then the whole "
        "pipeline in one ```yaml block. Nothing after the block."
    )
    return "\n\n".join(parts)


def extract_pipeline(answer: str, usage: ProposalUsage) -> Pipeline | None:
    """The pipeline in the one fenced YAML block of ``answer``, or None (reason counted)."""
    if len(answer) > MAX_ANSWER_CHARS:
        usage.discard("too_long")
        return None
    blocks = _FENCE.findall(answer)
    if not blocks:
        usage.discard("no_yaml")
        return None
    try:
        pipeline = load_pipeline_text(blocks[-1], "<proposal>")
        validate_pipeline(pipeline)
    except UserInputError:
        usage.discard("invalid_yaml")
        return None
    return pipeline


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
        llm = make_provider(provider) if isinstance(provider, str) else provider
        request = LLMRequest.from_prompt(
            model,
            prompt_text(pipeline, evidence, instruction, step=step, earlier=earlier),
            system=SYSTEM,
            max_tokens=MAX_TOKENS,
            temperature=0.7 if attempt else 0.0,
        )
        response = llm.complete(request)
        meter.calls += 1
        meter.input_tokens += response.usage.input_tokens
        meter.output_tokens += response.usage.output_tokens
        meter.cost_usd += response.cost_usd
        proposal = extract_pipeline(response.text, meter)
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
