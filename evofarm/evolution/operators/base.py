"""The operator interface, its context, and the registry of operators by name.

An operator is a small pure function ``(genome, rng, context) -> Genome | None``.
It returns a child whose :attr:`~evofarm.evolution.genome.Genome.mutations` end with
a record of what it did, or ``None`` when it has nothing to do on this genome (for
example, deleting a step from a one-step pipeline). Operators do not validate their
output themselves: :func:`evofarm.evolution.repair.apply_operator` validates every
child, repairs what it can and discards the rest, counting each outcome.

Operators must draw every random choice from ``rng`` (the offspring slot's
generator) and must not depend on anything but their arguments, so a worker on
another machine makes the same child from the same task.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evofarm.evolution.genome import Genome
from evofarm.evolution.material import Material

if TYPE_CHECKING:
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
    """

    generation: int
    donors: tuple[Genome, ...] = ()
    catalogue: tuple[ModelChoice, ...] = ()
    max_steps: int = 12
    material: Material = field(default_factory=Material)
    evidence: Evidence | None = None


@dataclass(frozen=True)
class OperatorInfo:
    """A registered operator: its function, default rate and one-line purpose."""

    name: str
    fn: OperatorFn
    rate: float
    summary: str


_REGISTRY: dict[str, OperatorInfo] = {}


def register_operator(name: str, rate: float, summary: str) -> Callable[[OperatorFn], OperatorFn]:
    """Decorator registering a mutation operator under ``name``.

    Args:
        name: Unique name campaigns refer to.
        rate: Default probability that an offspring gets this operator.
        summary: One line for help texts and the dashboard.

    Raises:
        ValueError: The name is taken or the rate is outside [0, 1].
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"operator {name!r}: rate {rate} is outside [0, 1]")

    def decorate(fn: OperatorFn) -> OperatorFn:
        if name in _REGISTRY:
            raise ValueError(f"operator {name!r} is already registered")
        _REGISTRY[name] = OperatorInfo(name, fn, rate, summary)
        return fn

    return decorate


def registered_operators() -> dict[str, OperatorInfo]:
    """All registered operators by name (importing the built-in ones first)."""
    # The built-in modules register themselves on import.
    from evofarm.evolution.operators import registry  # noqa: F401, PLC0415

    return dict(_REGISTRY)


def get_operator(name: str) -> OperatorInfo:
    """Return the operator registered as ``name``.

    Raises:
        KeyError: No such operator; the message lists the known names.
    """
    known = registered_operators()
    if name not in known:
        raise KeyError(f"unknown operator {name!r}; known: {', '.join(sorted(known))}")
    return known[name]
