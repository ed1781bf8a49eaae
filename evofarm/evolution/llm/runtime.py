"""How an operator reaches an LLM: the runtime in its context (interface only).

Operators are functions of ``(genome, rng, context)``; an LLM operator asks
``context.proposer`` (a :class:`ProposerRuntime`) to run one of the campaign's
meta pipelines on text inputs and gets the pipeline's final output back. The
campaign layer implements it (:class:`evofarm.campaign.proposer.CampaignProposer`)
on the worker that runs the breed/mutate task, with the campaign's ``proposer:``
binding, and counts what the provider billed. Without a runtime (no
``proposer:`` in the campaign) LLM operators do nothing (outcome ``noop``).

Determinism: the runtime must return the same text for the same
``(meta, inputs)`` when its provider is deterministic (a replay cassette, the
mock); then an LLM campaign is reproducible like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from evofarm.evolution.errors import EvolutionError

MetaName = Literal["mutation", "crossover", "genesis"]
"""The meta pipelines a runtime can run (``pipelines/meta/``: reflective_mutation,
breeding_chamber, genesis_pipeline)."""


class ProposerFailed(EvolutionError):
    """The meta pipeline did not complete (provider error, step failure, limit)."""


class ProposerRuntime(Protocol):
    """Runs a meta pipeline for an operator. Implementations are thread-safe."""

    def ask(self, meta: MetaName, inputs: Mapping[str, str]) -> str:
        """The final output text of meta pipeline ``meta`` run on ``inputs``.

        Raises:
            ProposerFailed: the meta pipeline failed; the operator counts the
                proposal as discarded (``proposer_error``).
        """
        ...


class Attempt(BaseModel):
    """An earlier child of the same parent, shown to the proposer so it does not repeat it.

    Attributes:
        genome: The child's id.
        generation: When it was born.
        operator: The operator that made it (its last mutation record).
        change: What was changed, as recorded (the proposer's CHANGE line for LLM
            operators).
        fitness: Its fitness, when evaluated.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    genome: str
    generation: int
    operator: str
    change: str
    fitness: float | None = None
