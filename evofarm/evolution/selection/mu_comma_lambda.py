"""(mu, lambda) survival: only offspring survive, apart from optional elites.

Strategy ``mu_comma_lambda``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from evofarm.evolution.selection.base import KeyFn, Member, by_fitness, unique_by_id
from evofarm.evolution.selection.breeding import GenerationalStrategy
from evofarm.evolution.selection.elitism import elites
from evofarm.evolution.selection.registry import register_selection

if TYPE_CHECKING:
    from evofarm.evolution.config import EvolutionConfig


def mu_comma_lambda(
    parents: Sequence[Member],
    offspring: Sequence[Member],
    mu: int,
    elitism: int = 0,
    key: KeyFn = by_fitness,
) -> list[Member]:
    """Return ``mu`` survivors: the ``elitism`` best parents, then the best offspring.

    With ``elitism=0`` this is the classic comma strategy, in which every parent
    dies. If there are too few distinct offspring, the best remaining parents fill
    the population so it never shrinks below what is available.
    """
    kept = elites(parents, min(elitism, mu), key)
    kept_ids = {m.id for m in kept}
    fresh = [m for m in sorted(unique_by_id(offspring), key=key) if m.id not in kept_ids]
    chosen = kept + fresh[: mu - len(kept)]
    if len(chosen) < mu:
        chosen_ids = {m.id for m in chosen}
        spare = [m for m in sorted(unique_by_id(parents), key=key) if m.id not in chosen_ids]
        chosen += spare[: mu - len(chosen)]
    return sorted(chosen, key=key)


@register_selection("mu_comma_lambda")
class MuCommaLambdaSelection(GenerationalStrategy):
    """Offspring replace their parents; the ``elitism`` best parents stay."""

    def survivors(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
    ) -> list[Member]:
        """See :func:`mu_comma_lambda` (``rng`` is unused)."""
        del rng
        return mu_comma_lambda(parents, offspring, config.population, config.elitism)
