"""Random search (strategy ``random_search``): the no-selection baseline.

Every offspring is a seed genome (drawn uniformly) with a random number, from
1 to ``selection_options.max_operators``, of operator applications, each drawn
in proportion to ``evolution.operators``' rates (repeats allowed; crossover is
never used). Nothing is selected: the population stays the seeds for the whole
campaign, so no offspring ever becomes a parent. The budget and accounting are
those of any campaign (the same engine functions, the same evaluation cache),
and the reported best is the engine's archive: the best genome evaluated so far.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from evofarm.evolution.selection.base import KeyFn, Member, by_fitness, unique_by_id
from evofarm.evolution.selection.registry import register_selection
from evofarm.evolution.selection.strategy import Breeding, Draw, Memo, SelectionStrategy, Survival

if TYPE_CHECKING:
    from evofarm.evolution.config import EvolutionConfig


class RandomSearchOptions(BaseModel):
    """``evolution.selection_options`` of ``random_search``.

    Attributes:
        max_operators: Most operator applications per offspring (k); each
            offspring gets a uniform 1..k.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_operators: int = Field(default=3, ge=1, le=50)


class RandomSearchBreeding:
    """Draws of one generation: a uniform seed and 1..k operators by rate.

    Thread safety: read-only after construction.
    """

    def __init__(self, seeds: Sequence[Member], config: EvolutionConfig) -> None:
        self._seeds = sorted({m.id for m in seeds})
        self._names = list(config.operators)
        self._weights = [config.operators[n] for n in self._names]
        self._most = RandomSearchOptions.model_validate(config.selection_options).max_operators

    def draw(self, slot: int, rng: random.Random) -> Draw:
        """How offspring ``slot`` is bred (``slot`` does not change the draw)."""
        del slot
        parent = self._seeds[rng.randrange(len(self._seeds))]
        count = rng.randint(1, self._most)
        operators = rng.choices(self._names, weights=self._weights, k=count)
        return Draw(kind="mutate", parents=(parent,), operators=tuple(operators))


@register_selection("random_search")
class RandomSearch(SelectionStrategy):
    """Every offspring is a randomly mutated seed; the population stays the seeds."""

    options_model = RandomSearchOptions

    def seed(self, members: Sequence[Member], config: EvolutionConfig) -> Survival:
        """Every seed, best first: all of them are parents for the whole campaign."""
        del config
        return Survival(sorted(unique_by_id(members), key=by_fitness))

    def breeding(
        self, population: Sequence[Member], key: KeyFn, config: EvolutionConfig, memo: Memo
    ) -> Breeding:
        """Uniform draws over the seeds (``key`` and ``memo`` are unused)."""
        del key, memo
        return RandomSearchBreeding(population, config)

    def survivors(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
    ) -> list[Member]:
        """The parents (the seeds) unchanged: no selection pressure."""
        del offspring, config, rng
        return list(parents)
