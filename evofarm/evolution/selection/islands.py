"""Island model (strategy ``islands``): colonies that evolve apart and exchange their best.

The population is split into ``count`` islands (colonies). Offspring slot ``s``
is bred on island ``s % count`` from that island's members only (tournament and
pairing as in the generational strategies, with the colony's own operator
rates), and survives on that island: each island keeps its
``max(1, population // count)`` best of its members and its own offspring
under the colony's ranking. Every ``migration_interval`` generations each
island sends copies of its ``migrants`` fittest members to another island
(``ring``: the next one; ``random``: a seeded derangement), where they replace
the worst members they beat. The engine's population is the union of the
islands (best first), so donors, the archive and reports see every colony; the
assignment is the strategy's memo (``{"islands": [[id, ...], ...]}``) in the
checkpoint, which is what makes a farm campaign resume and reproduce exactly.

Colonies (``selection_options.colonies``, one entry per island, the rest
generalists) have a ``role``:

* ``generalist``: ranks by fitness (``by_fitness``);
* ``specialist``: its own ``operators`` rates and ``crossover_rate``, and
  optionally an ``objective`` (a position in ``fitness.objectives``) ranked
  before fitness, so the colony pushes one objective (tokens, latency, ...);
* ``scout``: ranks by ``novelty_weight * novelty + (1 - novelty_weight) *
  fitness``, novelty being the mean gene distance to the ``k`` nearest members
  of the whole population (what every colony holds now,
  :func:`~evofarm.evolution.novelty.novelty`). Scouts explore; what they find
  reaches the others through migration (migrants are always the fittest).

Why the settings live under ``evolution.selection_options`` and not a
top-level ``evolution.islands`` key: islands *are* a selection strategy on the
:class:`~evofarm.evolution.selection.strategy.SelectionStrategy` interface,
the strategy registry is the single source of what each strategy accepts, and
a top-level key would be a field that every other strategy silently ignores.

Everything is pure and deterministic (ties by id, randomness from the rngs the
engine passes), so the same seed gives the same campaign in-process and on the
farm.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from evofarm.evolution.novelty import novelty
from evofarm.evolution.operators.registry import OPERATORS
from evofarm.evolution.selection.base import KeyFn, Member, by_fitness, unique_by_id
from evofarm.evolution.selection.breeding import GenerationalBreeding
from evofarm.evolution.selection.registry import register_selection
from evofarm.evolution.selection.strategy import Breeding, Draw, Memo, SelectionStrategy, Survival
from evofarm.registry import UnknownExtension

if TYPE_CHECKING:
    from evofarm.evolution.config import EvolutionConfig

Role = Literal["generalist", "specialist", "scout"]


class ColonyOptions(BaseModel):
    """One colony's settings (``selection_options.colonies[i]`` is island ``i``).

    Attributes:
        role: ``generalist``, ``specialist`` or ``scout`` (see the module docs).
        operators: The colony's operator rates (replacing ``evolution.operators``).
        crossover_rate: The colony's crossover rate.
        objective: Position in ``fitness.objectives`` ranked before fitness.
        novelty_weight: A scout's weight of novelty against fitness.
        k: Neighbours a scout's novelty averages over.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role = "generalist"
    operators: dict[str, float] | None = None
    crossover_rate: float | None = Field(default=None, ge=0, le=1)
    objective: int | None = Field(default=None, ge=0)
    novelty_weight: float = Field(default=0.8, ge=0, le=1)
    k: int = Field(default=5, ge=1)

    @field_validator("operators")
    @classmethod
    def _known_operators(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        for name, rate in value.items():
            if name not in OPERATORS:
                raise ValueError(str(UnknownExtension("operator", name, OPERATORS.names())))
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rate of {name!r} must be in [0, 1], got {rate}")
        if not any(rate > 0 for rate in value.values()):
            raise ValueError("at least one operator needs a rate above 0")
        return dict(sorted(value.items()))


class IslandOptions(BaseModel):
    """``evolution.selection_options`` of ``islands``.

    Attributes:
        count: Number of islands.
        migration_interval: Migrate after every this-many generations.
        migrants: Members each island sends per migration.
        topology: ``ring`` (island i sends to i+1) or ``random`` (a seeded
            derangement drawn at each migration).
        colonies: Per-island settings; islands past the list are generalists.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(default=4, ge=1, le=256)
    migration_interval: int = Field(default=5, ge=1)
    migrants: int = Field(default=1, ge=0)
    topology: Literal["ring", "random"] = "ring"
    colonies: list[ColonyOptions] = Field(default_factory=list)

    @model_validator(mode="after")
    def _colonies_fit(self) -> IslandOptions:
        if len(self.colonies) > self.count:
            raise ValueError(f"{len(self.colonies)} colonies for {self.count} islands")
        return self

    def colony(self, island: int) -> ColonyOptions:
        """The settings of ``island`` (a generalist past the list)."""
        return self.colonies[island] if island < len(self.colonies) else ColonyOptions()


def options_of(config: EvolutionConfig) -> IslandOptions:
    """The validated island options of a campaign."""
    return IslandOptions.model_validate(config.selection_options)


def island_size(config: EvolutionConfig, options: IslandOptions) -> int:
    """Members each island keeps: ``max(1, population // count)``."""
    return max(1, config.population // options.count)


def colony_key(colony: ColonyOptions, reference: Sequence[Member]) -> KeyFn:
    """The ranking of a colony (smaller is better); ``reference`` feeds scout novelty."""
    if colony.role == "scout":
        others = [m.genes for m in reference]
        weight, k = colony.novelty_weight, colony.k
        cache: dict[str, float] = {}

        def scout(member: Member) -> tuple[float | str, ...]:
            if member.id not in cache:
                rest = [g for g, m in zip(others, reference, strict=True) if m.id != member.id]
                cache[member.id] = round(
                    weight * novelty(member.genes, rest, k) + (1 - weight) * member.fitness, 9
                )
            return (-cache[member.id], *by_fitness(member))

        return scout
    index = colony.objective
    if colony.role == "specialist" and index is not None:

        def specialist(member: Member) -> tuple[float | str, ...]:
            value = member.objectives[index] if index < len(member.objectives) else 0.0
            return (-value, *by_fitness(member))

        return specialist
    return by_fitness


def _colony_config(config: EvolutionConfig, colony: ColonyOptions) -> EvolutionConfig:
    update: dict[str, object] = {}
    if colony.operators is not None:
        update["operators"] = colony.operators
    if colony.crossover_rate is not None:
        update["crossover_rate"] = colony.crossover_rate
    return config.model_copy(update=update) if update else config


def _islands_of(memo: Memo, population: Sequence[Member], count: int) -> list[list[Member]]:
    """The island members named by the memo (ids missing from ``population`` dropped)."""
    by_id = {m.id: m for m in population}
    raw = memo.get("islands")
    lists = raw if isinstance(raw, list) else []
    islands: list[list[Member]] = []
    for i in range(count):
        entry = lists[i] if i < len(lists) else None
        ids = entry if isinstance(entry, list) else []
        islands.append([by_id[x] for x in ids if isinstance(x, str) and x in by_id])
    # An island left empty (never after seed) borrows the population's best.
    return [isl if isl else sorted(population, key=by_fitness)[:1] for isl in islands]


def _memo(islands: Sequence[Sequence[Member]]) -> Memo:
    return {"islands": [[m.id for m in isl] for isl in islands]}


class IslandBreeding:
    """Slot ``s`` bred on island ``s % count`` by that colony's generational draws.

    Thread safety: read-only after construction.
    """

    def __init__(
        self, islands: Sequence[Sequence[Member]], population: Sequence[Member],
        config: EvolutionConfig, options: IslandOptions,
    ) -> None:  # fmt: skip
        self._plans = [
            GenerationalBreeding(
                members,
                colony_key(options.colony(i), population),
                _colony_config(config, options.colony(i)),
            )
            for i, members in enumerate(islands)
        ]

    def draw(self, slot: int, rng: random.Random) -> Draw:
        """How offspring ``slot`` is bred: on island ``slot % count``."""
        return self._plans[slot % len(self._plans)].draw(slot, rng)


def _targets(count: int, topology: str, rng: random.Random) -> list[int]:
    """Island i sends to ``targets[i]`` (never itself when there are two or more)."""
    if topology == "ring" or count < 3:
        return [(i + 1) % count for i in range(count)]
    while True:
        order = list(range(count))
        rng.shuffle(order)
        if all(order[i] != i for i in range(count)):
            return order


def migrate(
    islands: Sequence[Sequence[Member]], options: IslandOptions, rng: random.Random,
    population: Sequence[Member],
) -> list[list[Member]]:  # fmt: skip
    """Each island's fittest ``migrants`` replace the worst members they beat elsewhere.

    Emigrants are chosen before anyone moves, so the result does not depend on
    the order islands are visited; an island keeps its size.
    """
    count = len(islands)
    if count < 2 or options.migrants == 0:
        return [list(isl) for isl in islands]
    targets = _targets(count, options.topology, rng)
    emigrants = [sorted(isl, key=by_fitness)[: options.migrants] for isl in islands]
    arriving: list[list[Member]] = [[] for _ in range(count)]
    for source, target in enumerate(targets):
        arriving[target].extend(emigrants[source])
    moved: list[list[Member]] = []
    for i, isl in enumerate(islands):
        key = colony_key(options.colony(i), population)
        ids = {m.id for m in isl}
        kept = sorted(isl, key=key)
        for migrant in sorted(unique_by_id(arriving[i]), key=by_fitness):
            if migrant.id in ids or not kept:
                continue
            worst = kept[-1]
            if by_fitness(migrant) < by_fitness(worst):
                kept[-1] = migrant
                ids.discard(worst.id)
                ids.add(migrant.id)
                kept.sort(key=key)
        moved.append(kept)
    return moved


@register_selection("islands")
class IslandSelection(SelectionStrategy):
    """Colonies that evolve apart and exchange their best (see the module docs)."""

    options_model = IslandOptions
    needs_genes = True  # scouts rank offspring by novelty

    def seed(self, members: Sequence[Member], config: EvolutionConfig) -> Survival:
        """Deal the seeds, best first, round-robin to the islands (repeating if too few)."""
        options = options_of(config)
        ranked = sorted(unique_by_id(members), key=by_fitness)
        size = island_size(config, options)
        islands: list[list[Member]] = [[] for _ in range(options.count)]
        if len(ranked) < options.count:
            for i in range(options.count):
                islands[i].append(ranked[i % len(ranked)])
        else:
            for rank, member in enumerate(ranked):
                islands[rank % options.count].append(member)
        islands = [
            sorted(isl, key=colony_key(options.colony(i), ranked))[:size]
            for i, isl in enumerate(islands)
        ]
        return Survival(_union(islands), _memo(islands))

    def breeding(
        self, population: Sequence[Member], key: KeyFn, config: EvolutionConfig, memo: Memo
    ) -> Breeding:
        """Per-island draws (``key`` is unused: each colony ranks its own way)."""
        del key
        options = options_of(config)
        islands = _islands_of(memo, population, options.count)
        return IslandBreeding(islands, population, config, options)

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
        """Survival per island (offspring where their slot bred them), then migration."""
        options = options_of(config)
        islands = _islands_of(memo, parents, options.count)
        born: list[list[Member]] = [[] for _ in range(options.count)]
        for child in offspring:
            born[slots.get(child.id, 0) % options.count].append(child)
        reference = unique_by_id([*parents, *offspring])
        size = island_size(config, options)
        islands = [
            sorted(unique_by_id([*isl, *born[i]]), key=colony_key(options.colony(i), reference))[
                :size
            ]
            for i, isl in enumerate(islands)
        ]
        done = memo.get("generation", 0)
        generation = (done if isinstance(done, int) else 0) + 1
        if generation % options.migration_interval == 0:
            islands = migrate(islands, options, rng, reference)
        new_memo = _memo(islands)
        new_memo["generation"] = generation
        return Survival(_union(islands), new_memo)

    def survive(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
        memo: Memo,
    ) -> Survival:
        """Without slots every child is placed by its position (slot order)."""
        slots = {m.id: i for i, m in enumerate(offspring)}
        return self.survive_slotted(parents, offspring, config, rng, memo, slots=slots)

    def survivors(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
    ) -> list[Member]:
        """The union after one island generation from a fresh deal of ``parents``."""
        memo = self.seed(parents, config).memo
        return self.survive(parents, offspring, config, rng, memo).population


def _union(islands: Sequence[Sequence[Member]]) -> list[Member]:
    return sorted(unique_by_id([m for isl in islands for m in isl]), key=by_fitness)


def island_of(memo: Mapping[str, JsonValue], genome_id: str) -> list[int]:
    """The islands that hold ``genome_id`` in a checkpoint's memo (for reports)."""
    raw = memo.get("islands")
    lists = raw if isinstance(raw, list) else []
    return [i for i, ids in enumerate(lists) if isinstance(ids, list) and genome_id in ids]
