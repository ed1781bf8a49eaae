"""Parent pairing for crossover: by fitness, by complementary strengths, by distance.

Every strategy draws the first parent by tournament. The second parent is chosen
among a second tournament's entrants by the strategy's own criterion, which keeps
selection pressure while steering which two genomes meet.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Literal

from evofarm.evolution.novelty import gene_distance
from evofarm.evolution.selection.base import KeyFn, Member, by_fitness
from evofarm.evolution.selection.contestants import Contestants, best_index

PairingName = Literal["fitness", "complementary", "distance"]


def _entrants(pool: Contestants, first: Member, size: int, rng: random.Random) -> list[int]:
    """Indices (into ``pool.members``) of the second tournament's entrants.

    They are drawn, with replacement, from the members sorted by id without any
    member sharing ``first``'s id; an empty list means there is no such member.
    """
    lo, hi = pool.id_span(first.id)
    n = len(pool) - (hi - lo)
    if n == 0:
        return []
    # Index j of the list without first's id is j below the gap, j + gap width above.
    gap = hi - lo
    drawn = [rng.randrange(n) for _ in range(max(1, size))]
    return [j if j < lo else j + gap for j in drawn]


def complement(a: Member, b: Member) -> int:
    """How many cases ``b`` passes that ``a`` fails."""
    return sum(1 for x, y in zip(a.passed, b.passed, strict=False) if x != "1" and y == "1")


def _pick(pool: Contestants, entrants: Sequence[int], score: Callable[[Member], float]) -> int:
    # Highest criterion first; the selection key (fitness, id) breaks ties, and
    # among equal keys the first entrant wins, as ``min`` would choose.
    scores: dict[int, float] = {}
    best = entrants[0]
    best_rank = (-score(pool.members[best]), pool.keys[best])
    for i in entrants[1:]:
        if i not in scores:
            scores[i] = -score(pool.members[i])
        rank = (scores[i], pool.keys[i])
        if rank < best_rank:
            best, best_rank = i, rank
    return best


def pair_from(
    strategy: PairingName, pool: Contestants, size: int, rng: random.Random
) -> tuple[Member, Member]:
    """Choose two parents from a prepared population (see :func:`pair`).

    Raises:
        ValueError: ``pool`` is empty or ``size`` < 1.
    """
    first = pool.tournament(size, rng)
    entrants = _entrants(pool, first, size, rng)
    if not entrants:
        return first, first
    if strategy == "fitness":
        second = best_index(pool.keys, entrants)
    elif strategy == "complementary":
        second = _pick(pool, entrants, lambda m: complement(first, m))
    else:
        second = _pick(pool, entrants, lambda m: gene_distance(first.genes, m.genes))
    return first, pool.members[second]


def pair(
    strategy: PairingName,
    members: Sequence[Member],
    size: int,
    rng: random.Random,
    key: KeyFn = by_fitness,
) -> tuple[Member, Member]:
    """Choose two parents.

    Args:
        strategy: ``fitness`` (two tournaments), ``complementary`` (the second
            parent passes most of the cases the first fails) or ``distance`` (the
            second parent is genetically farthest from the first).
        members: The population; must not be empty.
        size: Tournament size.
        rng: The slot's generator.
        key: Selection sort key (smaller is better).

    Returns:
        Two members, distinct whenever the population has two.

    Raises:
        ValueError: ``members`` is empty or ``size`` < 1.
    """
    return pair_from(strategy, Contestants(members, key), size, rng)
