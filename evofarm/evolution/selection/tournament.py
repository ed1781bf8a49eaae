"""Tournament selection, and the ``tournament`` survival strategy.

Every draw indexes the members sorted by id, so a result depends only on the set
of members and the rng state, never on the order they arrived in. Planning a
generation runs hundreds of tournaments over one population, so
:class:`~evofarm.evolution.selection.contestants.Contestants` sorts it and
computes every sort key once; the plain functions below are thin wrappers with
the same results.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING

from evofarm.evolution.selection.base import KeyFn, Member, by_fitness, unique_by_id
from evofarm.evolution.selection.breeding import GenerationalStrategy
from evofarm.evolution.selection.contestants import Contestants, best_index
from evofarm.evolution.selection.elitism import elites
from evofarm.evolution.selection.registry import register_selection

if TYPE_CHECKING:
    from evofarm.evolution.config import EvolutionConfig

__all__ = [
    "Contestants",
    "TournamentSelection",
    "best_index",
    "tournament",
    "tournament_survivors",
]


def tournament(
    members: Sequence[Member], size: int, rng: random.Random, key: KeyFn = by_fitness
) -> Member:
    """Pick ``size`` members at random (with replacement) and return the best.

    The draw indexes the members sorted by id, so the result depends only on the
    set of members and the rng state, not on the order of ``members``. For many
    tournaments over one population, build :class:`Contestants` once instead.

    Raises:
        ValueError: ``members`` is empty or ``size`` < 1.
    """
    return Contestants(members, key).tournament(size, rng)


def tournament_survivors(
    members: Sequence[Member], count: int, size: int, rng: random.Random, key: KeyFn = by_fitness
) -> list[Member]:
    """Choose ``count`` distinct survivors by repeated tournaments without replacement.

    Each round is a tournament of ``min(size, remaining)`` over the remaining
    members; the winner (and any other member with its id) leaves the pool.
    Returns all members (best first) when there are no more than ``count``.
    """
    pool = Contestants(members, key)
    # Parallel lists shrunk in place: sorted by id throughout, keys computed once.
    remaining, ids, keys = list(pool.members), list(pool.ids), list(pool.keys)
    chosen: list[Member] = []
    while remaining and len(chosen) < count:
        n = len(remaining)
        drawn = [rng.randrange(n) for _ in range(min(size, n))]
        winner = remaining[best_index(keys, drawn)]
        chosen.append(winner)
        lo, hi = bisect_left(ids, winner.id), bisect_right(ids, winner.id)
        del remaining[lo:hi], ids[lo:hi], keys[lo:hi]
    return sorted(chosen, key=key)


@register_selection("tournament")
class TournamentSelection(GenerationalStrategy):
    """Survival by tournaments: the ``elitism`` best always stay, tournaments fill the rest."""

    def survivors(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
    ) -> list[Member]:
        """``elitism`` elites of parents and offspring, then tournament winners, best first."""
        mu = config.population
        pool = unique_by_id([*parents, *offspring])
        kept = elites(pool, min(config.elitism, mu))
        kept_ids = {m.id for m in kept}
        rest = [m for m in pool if m.id not in kept_ids]
        chosen = kept + tournament_survivors(rest, mu - len(kept), config.tournament_size, rng)
        return sorted(chosen, key=by_fitness)
