"""Parsing an LLM's proposal: strict format, the loader's limits, counted rejections.

A proposal is untrusted text. :func:`parse_proposal` accepts it only if it holds
exactly one fenced YAML block (```` ```yaml ... ``` ````) that parses under the
pipeline loader's caps (nodes, depth, size: YAML bombs stop there), names only
registered step types, introduces no privileged step type its parent lacks
(``python``, ``file_ops``, nested pipelines: a proposal must not gain a way to
read files or run code the parent could not), and validates. A child whose only
problem is a reference to a missing or later step is handed on unvalidated:
:func:`evofarm.evolution.repair.finalize` repairs it (outcome ``repaired``) or
discards it. Everything else raises :class:`ProposalRejected` with one of
:data:`REASONS`, which the engine counts per operator.

Nothing here executes the proposal: it is data until the sandbox runs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal, get_args

from evofarm.errors import PipelineLoadError, PipelineValidationError, UserInputError
from evofarm.evolution.errors import EvolutionError
from evofarm.pipeline.loader import MAX_PIPELINE_BYTES, pipeline_from_data, pipeline_to_data
from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.step_types import STEP_REGISTRY
from evofarm.pipeline.yaml_source import parse_yaml

ProposalReason = Literal[
    "no_yaml",
    "several_yaml_blocks",
    "too_large",
    "invalid_yaml",
    "unknown_step_type",
    "forbidden_step_type",
    "dangling_reference",
    "invalid_pipeline",
    "identical_to_parent",
    "proposer_error",
]
"""Why a proposal was discarded (the keys of the per-operator ``discarded`` counts)."""

REASONS: tuple[ProposalReason, ...] = get_args(ProposalReason)

#: Longest reply read at all (characters); the YAML block is further capped by the loader.
MAX_REPLY_CHARS = 200_000
#: Step types a proposal may use only if its parent already does.
PRIVILEGED_TYPES = frozenset(
    {"python", "file_ops", "pipeline", "pipeline_executor", "conditional_deploy"}
)

# A fence opens at the start of a line with ```yaml or ```yml and closes at the
# next line that is only ```. Other fences (```python, bare ```) are not proposals.
_FENCE = re.compile(r"^```[ \t]*ya?ml[ \t]*\r?\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


class ProposalRejected(EvolutionError):
    """A proposal was discarded; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: ProposalReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: ProposalReason = reason
        self.detail = detail


def extract_yaml(text: str) -> str:
    """The one fenced YAML block of ``text``.

    Raises:
        ProposalRejected: ``too_large``, ``no_yaml`` or ``several_yaml_blocks``.
    """
    if len(text) > MAX_REPLY_CHARS:
        raise ProposalRejected("too_large", f"{len(text)} characters")
    blocks = _FENCE.findall(text)
    if not blocks:
        raise ProposalRejected("no_yaml", "no ```yaml block in the reply")
    if len(blocks) > 1:
        raise ProposalRejected("several_yaml_blocks", f"{len(blocks)} ```yaml blocks")
    block: str = blocks[0]
    if len(block.encode()) > MAX_PIPELINE_BYTES:
        raise ProposalRejected("too_large", f"YAML block of {len(block)} characters")
    return block


def step_types_in(data: Any) -> Iterator[str]:
    """Every ``type`` of a step mapping anywhere in raw pipeline data (nested bodies too)."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            kind = node.get("type")
            if isinstance(kind, str) and "name" in node:
                yield kind
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _is_reference_problem(exc: UserInputError) -> bool:
    return isinstance(exc, PipelineValidationError) and " refers to step " in exc.message


def parse_proposal(
    text: str, parent: Mapping[str, Any] | None = None, *, source: str = "<proposal>"
) -> Pipeline:
    """The pipeline a proposal reply holds (validated unless it needs repair).

    Args:
        text: The proposer's whole reply.
        parent: The parent's canonical pipeline data (privileged types and
            ``identical_to_parent`` are judged against it); None for genesis.
        source: Names the proposal in error details.

    Returns:
        The validated pipeline, or, when the only problems are dangling step
        references, the pipeline unvalidated (for ``finalize`` to repair).

    Raises:
        ProposalRejected: with the reason (see :data:`REASONS`).
    """
    block = extract_yaml(text)
    try:
        data, _ = parse_yaml(block, source)
    except PipelineLoadError as exc:
        raise ProposalRejected("invalid_yaml", exc.message) from None
    types = set(step_types_in(data))
    unknown = sorted(t for t in types if t not in STEP_REGISTRY)
    if unknown:
        raise ProposalRejected("unknown_step_type", ", ".join(unknown)[:200])
    allowed = set(step_types_in(parent)) if parent is not None else set()
    forbidden = sorted((types & PRIVILEGED_TYPES) - allowed)
    if forbidden:
        raise ProposalRejected("forbidden_step_type", ", ".join(forbidden))
    try:
        pipeline = pipeline_from_data(data, source)
    except UserInputError as exc:
        if not _is_reference_problem(exc):
            raise ProposalRejected("invalid_pipeline", str(exc)[:300]) from None
        try:
            unchecked = pipeline_from_data(data, source, validate=False)
        except UserInputError as again:
            raise ProposalRejected("invalid_pipeline", str(again)[:300]) from None
        return unchecked
    if parent is not None and pipeline_to_data(pipeline) == dict(parent):
        raise ProposalRejected("identical_to_parent")
    return pipeline
