"""The selection interface: what the engine asks of a selection strategy.

A strategy is an object (like an Optuna sampler) that the engine consults at
three points of a campaign, always with JSON-sized :class:`Member` records:

1. :meth:`SelectionStrategy.seed` — the population of generation 0 from the
   evaluated seed genomes;
2. :meth:`SelectionStrategy.breeding` — once per generation, a
   :class:`Breeding` that :meth:`~Breeding.draw` s how each offspring slot is
   made (its parents, crossover kind and mutation operators);
3. :meth:`SelectionStrategy.survive` — the next population from the parents
   and the evaluated offspring.

:meth:`SelectionStrategy.ranking_key` orders a population (best first) for
donors, the seed population and reports. The engine keeps the archive (the
best genomes ever evaluated), the counters and the checkpoint; a strategy
returns members and, when it needs state of its own across generations, a
JSON ``memo`` the engine stores in the checkpoint and hands back.

How the planned modes fit without engine edits:

* **random search** (:mod:`~evofarm.evolution.selection.random_search`, built
  in): ``seed`` keeps every seed, ``draw`` picks a seed uniformly and a random
  number of random operators (a blind draw, ``Draw.feedback`` False, unless
  its options ask for feedback), ``survive`` returns the seeds unchanged, so
  nothing selects; the engine's archive is the best evaluated so far.
* **islands**: ``seed`` splits the seeds into islands and records the
  assignment in the memo; ``draw`` breeds slot ``s`` on island ``s % n`` from
  that island's members only; ``survive`` selects per island, migrates every
  ``k`` generations (read from the memo and its options) and returns the union
  and the new memo.
* **steady state**: the scheduler asks for one slot at a time
  (``breeding(...).draw(slot, rng)``) whenever a worker frees up and tells
  ``survive(population, [child], ...)`` per child; with a population that keeps
  everything evaluated (``survivors`` returning the union), a freed slot's child
  is bred from everything evaluated so far.

Strategy-specific settings come from the campaign's
``evolution.selection_options`` mapping, validated against the strategy's
:attr:`SelectionStrategy.options_model` when the campaign loads.

Contract: every method is pure and deterministic (all randomness from the
``rng`` passed in), breaks ties by genome id, and is safe to call from any
thread (strategies hold no mutable state; registered instances are shared).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, JsonValue

from evofarm.evolution.selection.base import KeyFn, Member, by_fitness

if TYPE_CHECKING:  # config imports the strategy registry to validate names
    from evofarm.evolution.config import EvolutionConfig

Memo = dict[str, JsonValue]
"""A strategy's own JSON state, kept in the generation checkpoint."""


class NoOptions(BaseModel):
    """The options of a strategy that takes none: any key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Draw:
    """How one offspring slot is bred (the engine turns it into a ``BreedTask``).

    Attributes:
        kind: ``crossover`` (two parents, possibly the same) or ``mutate`` (one).
        parents: Parent genome ids.
        crossover: The crossover kind for ``crossover`` draws.
        operators: Mutation operators to apply, in order (repeats allowed).
        feedback: Whether the operators may read an evaluation: the parent's
            evidence and earlier attempts with their scores. A blind draw
            (False) must name no ``needs_evidence`` operator; the engine then
            gives its operators neither.
    """

    kind: Literal["crossover", "mutate"]
    parents: tuple[str, ...]
    crossover: str | None = None
    operators: tuple[str, ...] = field(default=())
    feedback: bool = True


class Breeding(Protocol):
    """One generation's parent draws, prepared once for all its slots."""

    def draw(self, slot: int, rng: random.Random) -> Draw:
        """How offspring ``slot`` is bred, drawing only from ``rng``."""
        ...


@dataclass(frozen=True)
class Survival:
    """What :meth:`SelectionStrategy.survive` returns.

    Attributes:
        population: The next population, best first.
        memo: The strategy's state for the next generation (``{}`` if none).
    """

    population: list[Member]
    memo: Memo = field(default_factory=dict)


class SelectionStrategy(ABC):
    """Base class of selection strategies (see the module docs for the contract).

    Subclasses implement :meth:`breeding` and :meth:`survivors` and may
    override the other hooks (defaults: the ``population`` best seeds, no memo).
    Generational strategies derive from
    :class:`~evofarm.evolution.selection.breeding.GenerationalStrategy`, which
    draws parents by tournament and pairing.

    Attributes:
        name: The name campaigns use (``evolution.selection``); set on registration.
        options_model: The pydantic model of ``evolution.selection_options``.
        needs_genes: Whether :meth:`survive` reads the offspring's genes.
        needs_descriptors: Whether the strategy reads members' descriptors.
    """

    name: ClassVar[str] = ""
    options_model: ClassVar[type[BaseModel]] = NoOptions
    needs_genes: ClassVar[bool] = False
    """Whether :meth:`survive` reads ``Member.genes`` of the offspring (novelty):
    the engine leaves genes out of offspring records otherwise, since they are
    the costliest field."""
    needs_descriptors: ClassVar[bool] = False
    """Whether the strategy reads ``Member.descriptors`` (left empty otherwise)."""

    def validate_options(self, options: Mapping[str, JsonValue]) -> None:
        """Check ``evolution.selection_options`` for this strategy.

        Raises:
            pydantic.ValidationError: the options do not fit :attr:`options_model`
                (the campaign loader turns it into a located ``CampaignSpecError``).
        """
        self.options_model.model_validate(dict(options))

    def ranking_key(self, population: Sequence[Member]) -> KeyFn:
        """The sort key ranking ``population`` (smaller is better)."""
        del population
        return by_fitness

    def donor_key(self, population: Sequence[Member], config: EvolutionConfig) -> KeyFn:
        """The key choosing the ``evolution.donors`` genomes operators borrow from.

        Default: :meth:`ranking_key` (the fittest). A strategy whose draws are
        blind overrides it so the choice of donors reveals no evaluation.
        """
        del config
        return self.ranking_key(population)

    def check_operators(
        self, options: Mapping[str, JsonValue], operators: Mapping[str, float]
    ) -> None:
        """Check that the strategy can draw from ``operators`` (name -> rate) under ``options``.

        Called when the campaign loads, after :meth:`validate_options`. Default: any.

        Raises:
            ValueError: the strategy could draw no operator (the message says why).
        """
        del options, operators

    def seed(self, members: Sequence[Member], config: EvolutionConfig) -> Survival:
        """The generation-0 population from the evaluated seeds (distinct ids)."""
        key = self.ranking_key(members)
        return Survival(sorted(members, key=key)[: config.population])

    @abstractmethod
    def breeding(
        self, population: Sequence[Member], key: KeyFn, config: EvolutionConfig, memo: Memo
    ) -> Breeding:
        """Prepare the parent draws of one generation.

        Args:
            population: The current population (not empty).
            key: ``ranking_key(population)``, computed once by the engine.
            config: The campaign's evolution settings.
            memo: The strategy's state from the checkpoint.
        """

    def survive(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
        memo: Memo,
    ) -> Survival:
        """The next population and memo (default: :meth:`survivors`, memo unchanged)."""
        return Survival(self.survivors(parents, offspring, config, rng), dict(memo))

    def survive_slotted(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
        memo: Memo,
        *,
        slots: Mapping[str, int],
    ) -> Survival:
        """What the engine calls: :meth:`survive` with each offspring's first slot.

        ``slots`` maps every offspring id to the lowest slot that bred it, so a
        strategy whose slots mean something (islands: slot ``s`` is bred on
        island ``s % n``) can place each child where it was bred. The default
        ignores it and calls :meth:`survive`.
        """
        del slots
        return self.survive(parents, offspring, config, rng, memo)

    @abstractmethod
    def survivors(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
    ) -> list[Member]:
        """The next population, best first, from the parents and the new offspring.

        ``offspring`` holds distinct ids not among the parents, sorted by slot;
        ``rng`` is the generation's survival generator.
        """
