"""Genesis: a request becomes pipelines (``pipelines/meta/genesis_pipeline.yaml``).

:func:`genesis` asks a proposer runtime for up to ``tries`` proposals, parses
each strictly (:func:`~evofarm.evolution.llm.proposal.parse_proposal`), repairs
dangling references as offspring are repaired, and returns every valid one (or
stops at the first, for ``evofarm genesis``), with the reason of each discard.
:func:`seed_pipelines` is what the loop and the farm's genesis worker
(:mod:`evofarm.campaign.worker.genesis`) start from: the campaign's ``seeds:``,
or genesis on its ``request:``.

The suite summary shown to the proposer holds *training* examples only
(:func:`~evofarm.evolution.examples.examples_of`) and the kinds of checks.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from evofarm.campaign.proposer import CampaignProposer
from evofarm.campaign.spec import CampaignSpec
from evofarm.errors import CampaignSpecError, Location
from evofarm.evolution.examples import examples_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.operator_kit import ask
from evofarm.evolution.llm.prompting import genesis_inputs
from evofarm.evolution.llm.proposal import ProposalRejected
from evofarm.evolution.llm.runtime import ProposerRuntime
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.repair import finalize
from evofarm.fitness.suite import TaskSuite
from evofarm.pipeline.schema import Pipeline

#: Training examples shown in a suite summary.
SUMMARY_CASES = 5
SUMMARY_VALUE_CHARS = 300


def suite_summary(suite: TaskSuite | None, *, cases: int = SUMMARY_CASES) -> str:
    """Inputs, expected outputs and check kinds of a few training cases (text)."""
    if suite is None:
        return ""
    lines = []
    examples = examples_of(suite)[:cases]
    by_id = {c.id: c for c in suite.cases}
    for example in examples:
        kinds = sorted({c.type for c in by_id[example.case_id].checks})
        inputs = json.dumps(example.inputs, ensure_ascii=False)[:SUMMARY_VALUE_CHARS]
        expected = (
            json.dumps(example.expected, ensure_ascii=False)[:SUMMARY_VALUE_CHARS]
            if example.expected is not None
            else "(checked by: " + ", ".join(kinds) + ")"
        )
        lines.append(f"- inputs {inputs} -> expected {expected}; checks: {', '.join(kinds)}")
    return "\n".join(lines)


@dataclass
class GenesisResult:
    """What genesis produced: valid pipelines (in try order) and discard reasons."""

    pipelines: list[Pipeline] = field(default_factory=list)
    discarded: Counter[str] = field(default_factory=Counter)
    tries: int = 0


def genesis(
    request: str,
    runtime: ProposerRuntime,
    *,
    suite: TaskSuite | None = None,
    tries: int = 3,
    want: int = 1,
    max_steps: int = 12,
) -> GenesisResult:
    """Ask for pipelines until ``want`` are valid or ``tries`` were made.

    Each try passes its number to the meta pipeline, so retries are different
    requests (and a replay cassette can answer each).
    """
    result = GenesisResult()
    summary = suite_summary(suite)
    context = OperatorContext(generation=0, max_steps=max_steps)
    for attempt in range(1, tries + 1):
        result.tries = attempt
        try:
            pipeline, _, _ = ask(
                runtime, "genesis", genesis_inputs(request, summary, attempt), None
            )
            child, _ = finalize(Genome.from_pipeline(pipeline), context)
            if child is None:
                raise ProposalRejected("dangling_reference", "references repair could not fix")
        except ProposalRejected as exc:
            result.discarded[exc.reason] += 1
            continue
        result.pipelines.append(child.to_pipeline())
        if len(result.pipelines) >= want:
            break
    return result


def seed_pipelines(
    spec: CampaignSpec, suite: TaskSuite, proposer: CampaignProposer | None = None
) -> list[Pipeline]:
    """The campaign's starting pipelines: its seeds, or genesis on its ``request:``.

    Genesis runs on ``proposer`` (default: the campaign's, charging the process's
    ledger of the spec's name), whose providers count its calls in their ledger.

    Raises:
        UserInputError: a seed is invalid.
        CampaignSpecError: genesis produced no valid pipeline (the reasons are named).
    """
    if spec.request is None:
        return spec.load_seeds()
    proposer = proposer or CampaignProposer.for_campaign(spec)
    assert proposer is not None  # the spec requires a proposer with a request
    made = genesis(
        spec.request.text,
        proposer.metered(),
        suite=suite,
        tries=spec.request.proposals,
        want=spec.request.proposals,
        max_steps=spec.evolution.max_steps,
    )
    if not made.pipelines:
        reasons = ", ".join(f"{k} x{n}" for k, n in sorted(made.discarded.items()))
        raise CampaignSpecError(
            f"genesis made no valid pipeline in {made.tries} proposals ({reasons})",
            Location(key="request"),
        )
    return made.pipelines
