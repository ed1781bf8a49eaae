"""(mu + lambda) survival: parents and offspring compete together (strategy ``mu_plus_lambda``)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from evofarm.evolution.selection.base import KeyFn, Member, by_fitness, unique_by_id
from evofarm.evolution.selection.breeding import GenerationalStrategy
from evofarm.evolution.selection.registry import register_selection

if TYPE_CHECKING:
    from evofarm.evolution.config import EvolutionConfig


def mu_plus_lambda(
    parents: Sequence[Member], offspring: Sequence[Member], mu: int, key: KeyFn = by_fitness
) -> list[Member]:
    """Return the ``mu`` best of parents and offspring together, best first.

    A genome present in both lists counts once. Elitism is implicit: the best
    parent can only be displaced by something at least as good.
    """
    return sorted(unique_by_id([*parents, *offspring]), key=key)[:mu]


@register_selection("mu_plus_lambda")
class MuPlusLambdaSelection(GenerationalStrategy):
    """The ``population`` best of parents and offspring survive."""

    def survivors(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
    ) -> list[Member]:
        """See :func:`mu_plus_lambda` (``rng`` is unused)."""
        del rng
        return mu_plus_lambda(parents, offspring, config.population)
