"""What the two LLM operators share: ask, parse strictly, record, pre-check.

The reply format is strict: optional ``CHANGE:`` and ``WHY:`` lines (one line
each, recorded in the child's mutation record and shown to later proposers as
an earlier attempt), then exactly one fenced YAML block with the whole
pipeline. Anything else is discarded with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from evofarm.evolution.genome import Genome, MutationRecord
from evofarm.evolution.llm.proposal import ProposalRejected, parse_proposal
from evofarm.evolution.llm.runtime import MetaName, ProposerFailed, ProposerRuntime
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.repair import finalize, reference_problems
from evofarm.pipeline.schema import Pipeline

NOTE_CHARS = 300
_NOTE = re.compile(r"^(CHANGE|WHY):[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def note_of(reply: str) -> tuple[str, str]:
    """The ``CHANGE:`` and ``WHY:`` lines before the YAML block (empty if absent)."""
    head = reply.split("```", 1)[0]
    found: dict[str, str] = {}
    for key, value in _NOTE.findall(head):
        found.setdefault(key, value[:NOTE_CHARS])
    return found.get("CHANGE", ""), found.get("WHY", "")


def ask(
    runtime: ProposerRuntime, meta: MetaName, inputs: Mapping[str, str], parent: Genome | None
) -> tuple[Pipeline, str, str]:
    """Run meta pipeline ``meta`` and parse its reply: ``(pipeline, change, why)``.

    Raises:
        ProposalRejected: the reply is not an acceptable proposal, or the meta
            pipeline failed (``proposer_error``).
    """
    try:
        reply = runtime.ask(meta, inputs)
    except ProposerFailed as exc:
        raise ProposalRejected("proposer_error", str(exc)[:200]) from None
    pipeline = parse_proposal(
        reply, parent.pipeline if parent is not None else None, source=f"<{meta} proposal>"
    )
    change, why = note_of(reply)
    return pipeline, change, why


def child_of(
    parent: Genome, pipeline: Pipeline, record: MutationRecord, context: OperatorContext
) -> Genome:
    """The raw child, checked to survive :func:`~evofarm.evolution.repair.finalize`.

    Checking here lets the discard carry its reason; the engine finalizes the
    child again (a pure function: same result).

    Raises:
        ProposalRejected: ``dangling_reference`` (references repair cannot fix)
            or ``invalid_pipeline`` (e.g. over the campaign's step limit).
    """
    raw = parent.child(pipeline, record, context.generation)
    if finalize(raw, context)[0] is None:
        steps = [s for s in raw.pipeline.get("steps", []) if isinstance(s, Mapping)]
        if reference_problems(steps):
            raise ProposalRejected("dangling_reference", "references repair could not fix")
        raise ProposalRejected("invalid_pipeline", "fails the campaign's offspring rules")
    return raw
