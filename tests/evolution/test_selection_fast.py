"""The fast selection paths agree exactly with their straightforward definitions.

Planning and survival run hundreds of tournaments per generation, so they use
precomputed, sorted-once structures (:class:`Contestants`, ENS non-dominated
sorting). Seeded campaigns must reach the same results as before, so each fast
path is checked draw for draw against a plain reference implementation here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from evofarm.evolution.novelty import gene_distance
from evofarm.evolution.selection.base import KeyFn, Member, by_fitness
from evofarm.evolution.selection.nsga2 import crowded_key, non_dominated_sort, peeling_sort
from evofarm.evolution.selection.pairing import complement, pair
from evofarm.evolution.selection.tournament import tournament, tournament_survivors


def ref_tournament(members: Sequence[Member], size: int, rng: random.Random, key: KeyFn) -> Member:
    ordered = sorted(members, key=lambda m: m.id)
    return min([ordered[rng.randrange(len(ordered))] for _ in range(size)], key=key)


def ref_survivors(
    members: Sequence[Member], count: int, size: int, rng: random.Random, key: KeyFn
) -> list[Member]:
    pool = sorted(members, key=lambda m: m.id)
    chosen: list[Member] = []
    while pool and len(chosen) < count:
        winner = ref_tournament(pool, min(size, len(pool)), rng, key)
        chosen.append(winner)
        pool = [m for m in pool if m.id != winner.id]
    return sorted(chosen, key=key)


def ref_pair(
    strategy: str, members: Sequence[Member], size: int, rng: random.Random, key: KeyFn
) -> tuple[Member, Member]:
    first = ref_tournament(members, size, rng, key)
    ordered = sorted((m for m in members if m.id != first.id), key=lambda m: m.id)
    if not ordered:
        entrants = [first]
    else:
        entrants = [ordered[rng.randrange(len(ordered))] for _ in range(max(1, size))]
    if strategy == "fitness":
        return first, min(entrants, key=key)
    if strategy == "complementary":
        return first, min(entrants, key=lambda m: (-complement(first, m), key(m)))
    return first, min(entrants, key=lambda m: (-gene_distance(first.genes, m.genes), key(m)))


# Few distinct values, so ties in fitness, size, objectives and genes are common.
members_st = st.lists(
    st.builds(
        Member,
        id=st.sampled_from([f"g{i}" for i in range(12)]),
        fitness=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
        objectives=st.tuples(st.integers(0, 2), st.integers(0, 2)).map(
            lambda t: (float(t[0]), float(t[1]))
        ),
        passed=st.text(alphabet="01", min_size=4, max_size=4),
        genes=st.lists(st.sampled_from("abc"), max_size=3).map(tuple),
        size=st.integers(0, 2),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=150, deadline=None)
@given(members_st, st.integers(1, 5), st.integers(0, 2**32), st.booleans())
def test_tournament_matches_reference(
    members: list[Member], size: int, seed: int, crowded: bool
) -> None:
    key = crowded_key(members) if crowded else by_fitness
    a, b = random.Random(seed), random.Random(seed)
    assert tournament(members, size, a, key) == ref_tournament(members, size, b, key)
    assert a.random() == b.random()  # same number of draws


@settings(max_examples=150, deadline=None)
@given(members_st, st.integers(0, 8), st.integers(1, 4), st.integers(0, 2**32))
def test_tournament_survivors_match_reference(
    members: list[Member], count: int, size: int, seed: int
) -> None:
    a, b = random.Random(seed), random.Random(seed)
    got = tournament_survivors(members, count, size, a)
    assert got == ref_survivors(members, count, size, b, by_fitness)
    assert a.random() == b.random()


@settings(max_examples=150, deadline=None)
@given(
    members_st,
    st.sampled_from(["fitness", "complementary", "distance"]),
    st.integers(1, 5),
    st.integers(0, 2**32),
)
def test_pairing_matches_reference(
    members: list[Member], strategy: str, size: int, seed: int
) -> None:
    a, b = random.Random(seed), random.Random(seed)
    got = pair(strategy, members, size, a)  # type: ignore[arg-type]
    assert got == ref_pair(strategy, members, size, b, by_fitness)
    assert a.random() == b.random()


points_st = st.integers(1, 3).flatmap(
    lambda width: st.lists(
        st.lists(st.sampled_from([-1.0, -0.0, 0.0, 0.5, 1.0]), min_size=width, max_size=width),
        max_size=25,
    )
)


@settings(max_examples=200, deadline=None)
@given(points_st)
def test_non_dominated_sort_matches_peeling(points: list[list[float]]) -> None:
    assert non_dominated_sort(points) == peeling_sort(points)


def test_non_dominated_sort_with_nan_takes_the_reference_path() -> None:
    points = [[1.0, float("nan")], [0.0, 0.0], [1.0, 1.0]]
    assert non_dominated_sort(points) == peeling_sort(points)
