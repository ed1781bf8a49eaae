"""Elitism: the best few always survive."""

from __future__ import annotations

from collections.abc import Sequence

from evofarm.evolution.selection.base import KeyFn, Member, by_fitness, unique_by_id


def elites(members: Sequence[Member], count: int, key: KeyFn = by_fitness) -> list[Member]:
    """Return the ``count`` best distinct members, best first (ties by id)."""
    if count <= 0:
        return []
    return sorted(unique_by_id(members), key=key)[:count]
