"""Generational breeding: parents by tournament and pairing, operators by their rates.

:class:`GenerationalStrategy` is the base of the strategies that keep a
population and breed every offspring of a generation from it (``tournament``,
``mu_plus_lambda``, ``mu_comma_lambda``, ``nsga2``); they differ only in who
survives. Its draws are the engine's historical ones, draw for draw, so seeded
campaigns keep their results.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from evofarm.evolution.selection.base import KeyFn, Member
from evofarm.evolution.selection.contestants import Contestants
from evofarm.evolution.selection.pairing import pair_from
from evofarm.evolution.selection.strategy import Breeding, Draw, Memo, SelectionStrategy

if TYPE_CHECKING:
    from evofarm.evolution.config import EvolutionConfig


class GenerationalBreeding:
    """The draws of one generation over a population prepared once.

    Each slot: crossover with probability ``crossover_rate`` (when there are two
    members or more), each operator with its rate; a crossover's parents come
    from :func:`~evofarm.evolution.selection.pairing.pair_from`, a mutation's
    parent from one tournament, and a mutation that drew no operator gets one
    in proportion to the rates. Thread safety: read-only after construction.
    """

    def __init__(self, population: Sequence[Member], key: KeyFn, config: EvolutionConfig) -> None:
        # Sorted by id and keyed once for the whole plan: every tournament draws from it.
        self._pool = Contestants(population, key)
        self._config = config
        self._names = list(config.operators)
        self._weights = [config.operators[n] for n in self._names]

    def draw(self, slot: int, rng: random.Random) -> Draw:
        """How offspring ``slot`` is bred (``slot`` does not change the draw)."""
        del slot
        config, names, weights = self._config, self._names, self._weights
        crossover = len(self._pool) >= 2 and rng.random() < config.crossover_rate
        operators = [n for n, w in zip(names, weights, strict=True) if rng.random() < w]
        if crossover:
            first, second = pair_from(config.pairing, self._pool, config.tournament_size, rng)
            parents: tuple[str, ...] = (first.id, second.id)
            kind = rng.choice(config.crossover)
        else:
            parents = (self._pool.tournament(config.tournament_size, rng).id,)
            kind = None
            if not operators:
                operators = rng.choices(names, weights=weights, k=1)
        rng.shuffle(operators)
        return Draw(
            kind="crossover" if crossover else "mutate",
            parents=parents,
            crossover=kind,
            operators=tuple(operators),
        )


class GenerationalStrategy(SelectionStrategy):
    """A strategy that breeds with :class:`GenerationalBreeding`; subclasses pick survivors."""

    def breeding(
        self, population: Sequence[Member], key: KeyFn, config: EvolutionConfig, memo: Memo
    ) -> Breeding:
        """Tournament and pairing over ``population`` (the memo is unused)."""
        del memo
        return GenerationalBreeding(population, key, config)
