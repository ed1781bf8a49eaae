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
from evofarm.evolution.selection.tournament import tournament

PairingName = Literal["fitness", "complementary", "distance"]


def _entrants(
    members: Sequence[Member], first: Member, size: int, rng: random.Random
) -> list[Member]:
    ordered = sorted((m for m in members if m.id != first.id), key=lambda m: m.id)
    if not ordered:
        return [first]
    return [ordered[rng.randrange(len(ordered))] for _ in range(max(1, size))]


def complement(a: Member, b: Member) -> int:
    """How many cases ``b`` passes that ``a`` fails."""
    return sum(1 for x, y in zip(a.passed, b.passed, strict=False) if x != "1" and y == "1")


def _pick(entrants: Sequence[Member], score: Callable[[Member], float], key: KeyFn) -> Member:
    # Highest criterion first; the selection key (fitness, id) breaks ties.
    return min(entrants, key=lambda m: (-score(m), key(m)))


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
    """
    first = tournament(members, size, rng, key)
    entrants = _entrants(members, first, size, rng)
    if strategy == "fitness":
        second = min(entrants, key=key)
    elif strategy == "complementary":
        second = _pick(entrants, lambda m: complement(first, m), key)
    else:
        second = _pick(entrants, lambda m: gene_distance(first.genes, m.genes), key)
    return first, second
