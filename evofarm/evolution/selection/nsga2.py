"""NSGA-II: non-dominated sorting and crowding distance (Deb et al., 2002).

Objective vectors are maximised in every component; whoever builds a
:class:`~evofarm.evolution.selection.base.Member` negates objectives that should
be minimised (tokens, latency). Ties are broken by genome id throughout.
Strategy ``nsga2``: ranks by crowded comparison, survives by :func:`nsga2_select`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from operator import ge
from typing import TYPE_CHECKING

from evofarm.evolution.selection.base import KeyFn, Member, unique_by_id
from evofarm.evolution.selection.breeding import GenerationalStrategy
from evofarm.evolution.selection.registry import register_selection

if TYPE_CHECKING:
    from evofarm.evolution.config import EvolutionConfig


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True if ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(
        x > y for x, y in zip(a, b, strict=True)
    )


def non_dominated_sort(points: Sequence[Sequence[float]]) -> list[list[int]]:
    """Split point indices into Pareto fronts, best front first.

    Fronts are unique, so any correct algorithm gives the same answer; this one
    is the efficient non-dominated sort (ENS-BS, Zhang et al., 2015) over the
    distinct points: visit them in descending lexicographic order, in which
    every point comes after all points that dominate it, and put each in the
    first front none of whose members dominates it (found by binary search).
    Equal points share a front. Inputs with NaN or ragged vectors take
    :func:`peeling_sort` (Deb's original).

    Returns:
        Lists of indices into ``points``; each front is sorted ascending.

    Raises:
        ValueError: The points do not all have the same length.
    """
    if not points:
        return []
    width = len(points[0])
    if any(len(p) != width or any(math.isnan(x) for x in p) for p in points):
        return peeling_sort(points)
    groups: dict[tuple[float, ...], list[int]] = {}
    for i, p in enumerate(points):
        groups.setdefault(tuple(p), []).append(i)
    fronts: list[list[tuple[float, ...]]] = []
    for p in sorted(groups, reverse=True):
        # Binary search for the first front with no member dominating p: if front
        # k holds a dominator, so does every earlier front (it holds a dominator
        # of that dominator), so "dominated in front k" is true on a prefix.
        low, high = 0, len(fronts)
        while low < high:
            middle = (low + high) // 2
            if _dominated_in(fronts[middle], p):
                low = middle + 1
            else:
                high = middle
        if low == len(fronts):
            fronts.append([p])
        else:
            fronts[low].append(p)
    return [sorted(i for p in front for i in groups[p]) for front in fronts]


def _dominated_in(front: Sequence[tuple[float, ...]], point: tuple[float, ...]) -> bool:
    # Points are distinct, so q >= point everywhere means q dominates point.
    return any(all(map(ge, q, point)) for q in front)


def peeling_sort(points: Sequence[Sequence[float]]) -> list[list[int]]:
    """Deb's fast non-dominated sort (O(n^2) comparisons): the reference definition.

    Returns:
        Lists of indices into ``points``; each front is sorted ascending.

    Raises:
        ValueError: The points do not all have the same length.
    """
    n = len(points)
    dominated_by: list[list[int]] = [[] for _ in range(n)]
    domination_count = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                dominated_by[i].append(j)
                domination_count[j] += 1
            elif dominates(points[j], points[i]):
                dominated_by[j].append(i)
                domination_count[i] += 1
    fronts: list[list[int]] = []
    current = [i for i in range(n) if domination_count[i] == 0]
    while current:
        fronts.append(sorted(current))
        following: list[int] = []
        for i in current:
            for j in dominated_by[i]:
                domination_count[j] -= 1
                if domination_count[j] == 0:
                    following.append(j)
        current = following
    return fronts


def crowding_distance(points: Sequence[Sequence[float]]) -> list[float]:
    """Crowding distance of each point within one front.

    Boundary points of every objective get ``inf``; interior points get the sum
    over objectives of the normalised gap between their two neighbours.
    """
    n = len(points)
    if n == 0:
        return []
    distance = [0.0] * n
    for m in range(len(points[0])):
        # Stable sort on value, index order breaks ties, so equal inputs give equal output.
        order = sorted(range(n), key=lambda i: (points[i][m], i))
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for k in range(1, n - 1):
            gap = points[order[k + 1]][m] - points[order[k - 1]][m]
            distance[order[k]] += gap / (high - low)
    return distance


def nsga2_ranking(members: Sequence[Member]) -> dict[str, tuple[int, float]]:
    """Return ``{id: (front rank, crowding distance)}`` over distinct members."""
    pool = unique_by_id(members)
    points = [m.objectives for m in pool]
    ranking: dict[str, tuple[int, float]] = {}
    for rank, front in enumerate(non_dominated_sort(points)):
        crowd = crowding_distance([points[i] for i in front])
        for i, distance in zip(front, crowd, strict=True):
            ranking[pool[i].id] = (rank, distance)
    return ranking


def crowded_key(members: Sequence[Member]) -> KeyFn:
    """Return the crowded-comparison sort key over ``members``.

    Lower front rank first, then larger crowding distance, then higher scalar
    fitness, then smaller size, then the smaller id. Usable with tournament and elitism.
    """
    ranking = nsga2_ranking(members)

    def key(member: Member) -> tuple[float | str, ...]:
        rank, crowd = ranking.get(member.id, (len(ranking), 0.0))
        return (float(rank), -crowd, -member.fitness, float(member.size), member.id)

    return key


def nsga2_select(members: Sequence[Member], mu: int) -> list[Member]:
    """Choose ``mu`` survivors by Pareto front, then crowding distance.

    Returns them best first under :func:`crowded_key`.
    """
    pool = unique_by_id(members)
    key = crowded_key(pool)
    return sorted(pool, key=key)[:mu]


@register_selection("nsga2")
class Nsga2Selection(GenerationalStrategy):
    """Multi-objective: rank by Pareto front and crowding distance."""

    def ranking_key(self, population: Sequence[Member]) -> KeyFn:
        """The crowded-comparison key over ``population``."""
        return crowded_key(population)

    def survivors(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
    ) -> list[Member]:
        """See :func:`nsga2_select` (``rng`` is unused)."""
        del rng
        return nsga2_select(unique_by_id([*parents, *offspring]), config.population)
