"""Tournament selection."""

from __future__ import annotations

import random
from collections.abc import Sequence

from evofarm.evolution.selection.base import KeyFn, Member, by_fitness


def tournament(
    members: Sequence[Member], size: int, rng: random.Random, key: KeyFn = by_fitness
) -> Member:
    """Pick ``size`` members at random (with replacement) and return the best.

    The draw indexes the members sorted by id, so the result depends only on the
    set of members and the rng state, not on the order of ``members``.

    Raises:
        ValueError: ``members`` is empty or ``size`` < 1.
    """
    if not members:
        raise ValueError("tournament over an empty population")
    if size < 1:
        raise ValueError(f"tournament size must be >= 1, got {size}")
    ordered = sorted(members, key=lambda m: m.id)
    entrants = [ordered[rng.randrange(len(ordered))] for _ in range(size)]
    return min(entrants, key=key)


def tournament_survivors(
    members: Sequence[Member], count: int, size: int, rng: random.Random, key: KeyFn = by_fitness
) -> list[Member]:
    """Choose ``count`` distinct survivors by repeated tournaments without replacement.

    Returns all members (best first) when there are no more than ``count``.
    """
    pool = sorted(members, key=lambda m: m.id)
    chosen: list[Member] = []
    while pool and len(chosen) < count:
        winner = tournament(pool, min(size, len(pool)), rng, key)
        chosen.append(winner)
        pool = [m for m in pool if m.id != winner.id]
    return sorted(chosen, key=key)
