"""(mu + lambda) survival: parents and offspring compete together."""

from __future__ import annotations

from collections.abc import Sequence

from evofarm.evolution.selection.base import KeyFn, Member, by_fitness, unique_by_id


def mu_plus_lambda(
    parents: Sequence[Member], offspring: Sequence[Member], mu: int, key: KeyFn = by_fitness
) -> list[Member]:
    """Return the ``mu`` best of parents and offspring together, best first.

    A genome present in both lists counts once. Elitism is implicit: the best
    parent can only be displaced by something at least as good.
    """
    return sorted(unique_by_id([*parents, *offspring]), key=key)[:mu]
