"""The operator interface: the function type, its context and its registry record.

An operator is a small pure function ``(genome, rng, context) -> Genome | None``.
It returns a child whose :attr:`~evofarm.evolution.genome.Genome.mutations` end with
a record of what it did, or ``None`` when it has nothing to do on this genome (for
example, deleting a step from a one-step pipeline). Operators do not validate their
output themselves: :func:`evofarm.evolution.repair.apply_operator` validates every
child, repairs what it can and discards the rest, counting each outcome.

Operators must draw every random choice from ``rng`` (the offspring slot's
generator) and must not depend on anything but their arguments, so a worker on
another machine makes the same child from the same task.

This module holds types only; the registry of operators by name is
:mod:`evofarm.evolution.operators.registry`, which every operator module (built
in or a plugin) imports to register itself. Nothing here imports an operator,
so there is no import circle.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evofarm.evolution.genome import Genome
from evofarm.evolution.material import Material

if TYPE_CHECKING:
    from evofarm.evolution.llm.runtime import Attempt, ProposerRuntime
    from evofarm.evolution.proposals import Evidence

OperatorFn = Callable[[Genome, random.Random, "OperatorContext"], "Genome | None"]


@dataclass(frozen=True)
class ModelChoice:
    """One entry of a campaign's model catalogue.

    Attributes:
        slot: The provider slot steps use it through (``claude``/``gemini``).
        model: The model name or alias a step's ``model`` key takes.
        provider: The provider serving it (``anthropic``, ``mock``, ...); when set,
            provider optimization may rebind the pipeline's slot to it.
        input_usd_per_mtok: Price per million input tokens.
        output_usd_per_mtok: Price per million output tokens.
    """

    slot: str
    model: str
    provider: str | None = None
    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0

    @property
    def blended_price(self) -> float:
        """A single price for ranking models: input and output weighted 1:3."""
        return (self.input_usd_per_mtok + 3 * self.output_usd_per_mtok) / 4


@dataclass(frozen=True)
class OperatorContext:
    """Everything an operator may read besides the genome and the rng.

    Attributes:
        generation: The generation offspring are born in.
        donors: Fitter genomes (best first) that prompt evolution and feature
            insertion borrow phrases and steps from.
        catalogue: The campaign's model catalogue, with prices.
        max_steps: Upper bound on top-level steps a child may have.
        material: Constants found in the campaign's training examples and seeds
            (:func:`~evofarm.evolution.material.material_of`); the generic set
            when the caller has none.
        evidence: What went wrong with the parent on a few training cases, for
            reflective operators (:class:`~evofarm.evolution.proposals.Evidence`);
            ``None`` when the caller has no evaluation of the parent.
        proposer: The LLM runtime of LLM operators
            (:class:`~evofarm.evolution.llm.runtime.ProposerRuntime`), provided by
            the worker that runs the task; ``None`` when the campaign names no
            ``proposer:`` (LLM operators then do nothing).
        attempts: Earlier children of the first parent (oldest first), so a
            proposer does not repeat them
            (:func:`~evofarm.evolution.llm.attempts.attempts_of`).
    """

    generation: int
    donors: tuple[Genome, ...] = ()
    catalogue: tuple[ModelChoice, ...] = ()
    max_steps: int = 12
    material: Material = field(default_factory=Material)
    evidence: Evidence | None = None
    proposer: ProposerRuntime | None = None
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True)
class OperatorInfo:
    """A registered operator: its function, default rate and one-line purpose.

    Attributes:
        needs_evidence: The operator does nothing without
            :attr:`OperatorContext.evidence` (it reads an evaluation of the
            parent); a blind draw (``random_search``'s default) leaves it out.
    """

    name: str
    fn: OperatorFn
    rate: float
    summary: str
    needs_evidence: bool = False
