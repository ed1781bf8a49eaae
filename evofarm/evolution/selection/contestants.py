"""A population prepared for many tournaments (shared by tournaments and pairing).

Every draw indexes the members sorted by id, so a result depends only on the set
of members and the rng state, never on the order they arrived in. Planning a
generation runs hundreds of tournaments over one population, so
:class:`Contestants` sorts it and computes every sort key once.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from evofarm.evolution.errors import EngineInputError
from evofarm.evolution.selection.base import KeyFn, Member, by_fitness


def best_index(keys: Sequence[tuple[float | str, ...]], indices: Sequence[int]) -> int:
    """The first of ``indices`` whose key is smallest (``min`` semantics: first wins ties)."""
    best = indices[0]
    for i in indices[1:]:
        if keys[i] < keys[best]:
            best = i
    return best


class Contestants:
    """A population prepared for many tournaments: sorted by id, keys precomputed.

    Attributes:
        members: The members sorted by id (stable, so equal ids keep their order).
        ids: ``members``' ids, for bisection.
        keys: ``key(member)`` for each of ``members``.
        key: The selection sort key (smaller is better).
    """

    __slots__ = ("ids", "key", "keys", "members")

    def __init__(self, members: Sequence[Member], key: KeyFn = by_fitness) -> None:
        self.members = sorted(members, key=lambda m: m.id)
        self.ids = [m.id for m in self.members]
        self.keys = [key(m) for m in self.members]
        self.key = key

    def __len__(self) -> int:
        return len(self.members)

    def best_of(self, indices: Sequence[int]) -> int:
        """The index (into :attr:`members`) of the best of ``indices``; the first wins ties.

        Equivalent to ``min(entrants, key=key)`` over the members at ``indices``.
        """
        return best_index(self.keys, indices)

    def tournament(self, size: int, rng: random.Random) -> Member:
        """Draw ``size`` members (with replacement) and return the best.

        Raises:
            EngineInputError: There are no members or ``size`` < 1 (a ``ValueError``).
        """
        if not self.members:
            raise EngineInputError("tournament over an empty population")
        if size < 1:
            raise EngineInputError(f"tournament size must be >= 1, got {size}")
        n = len(self.members)
        # All draws first, then the comparison: the rng sees exactly what it did
        # when entrants were materialised as a list.
        drawn = [rng.randrange(n) for _ in range(size)]
        return self.members[self.best_of(drawn)]

    def id_span(self, member_id: str) -> tuple[int, int]:
        """The index range ``[lo, hi)`` of the members with ``member_id``."""
        return bisect_left(self.ids, member_id), bisect_right(self.ids, member_id)
