"""Selection: tournament, elitism, (mu+lambda), (mu,lambda), NSGA-II, pairing."""

from __future__ import annotations

import math
import random

import pytest

from evofarm.evolution.rng import rng_for
from evofarm.evolution.selection.base import Member
from evofarm.evolution.selection.elitism import elites
from evofarm.evolution.selection.mu_comma_lambda import mu_comma_lambda
from evofarm.evolution.selection.mu_plus_lambda import mu_plus_lambda
from evofarm.evolution.selection.nsga2 import (
    crowding_distance,
    dominates,
    non_dominated_sort,
    nsga2_ranking,
    nsga2_select,
)
from evofarm.evolution.selection.pairing import complement, pair
from evofarm.evolution.selection.tournament import tournament, tournament_survivors


def m(id_: str, fitness: float, **kw: object) -> Member:
    return Member.model_validate({"id": id_, "fitness": fitness, **kw})


def test_rng_for_is_stable_and_independent() -> None:
    a = [rng_for(7, 3, 1).random() for _ in range(3)]
    b = [rng_for(7, 3, 1).random() for _ in range(3)]
    assert a == b
    assert rng_for(7, 3, 1).random() != rng_for(7, 3, 2).random()
    assert rng_for(7, 3, 1).random() != rng_for(7, 4, 1).random()
    assert rng_for(7, 3, 1).random() != rng_for(8, 3, 1).random()


def test_tournament_is_order_independent_and_prefers_fitter() -> None:
    pop = [m(f"g{i}", i / 10) for i in range(10)]
    wins = [tournament(pop, 3, rng_for(1, 0, s)).id for s in range(50)]
    shuffled = list(reversed(pop))
    assert wins == [tournament(shuffled, 3, rng_for(1, 0, s)).id for s in range(50)]
    # A size-3 tournament over 10 picks the weakest only if all three entrants are it.
    assert wins.count("g9") > wins.count("g0")
    assert tournament(pop, 30, rng_for(1, 0, 0)).id == "g9"


def test_tournament_rejects_empty_and_bad_size() -> None:
    with pytest.raises(ValueError):
        tournament([], 2, random.Random(0))
    with pytest.raises(ValueError):
        tournament([m("a", 1)], 0, random.Random(0))


def test_tournament_survivors_are_distinct() -> None:
    pop = [m(f"g{i}", i / 10) for i in range(10)]
    chosen = tournament_survivors(pop, 4, 3, random.Random(5))
    assert len({c.id for c in chosen}) == 4
    assert [c.fitness for c in chosen] == sorted((c.fitness for c in chosen), reverse=True)


def test_elites_ties_break_by_id() -> None:
    pop = [m("b", 0.5), m("a", 0.5), m("c", 0.9), m("a", 0.5)]
    assert [e.id for e in elites(pop, 3)] == ["c", "a", "b"]
    assert elites(pop, 0) == []


def test_mu_plus_lambda_keeps_best_of_union() -> None:
    parents = [m("p1", 0.9), m("p2", 0.1)]
    kids = [m("k1", 0.5), m("k2", 0.95), m("p1", 0.9)]
    assert [x.id for x in mu_plus_lambda(parents, kids, 3)] == ["k2", "p1", "k1"]


def test_mu_comma_lambda_replaces_parents_except_elites() -> None:
    parents = [m("p1", 0.9), m("p2", 0.8)]
    kids = [m("k1", 0.5), m("k2", 0.4), m("k3", 0.3)]
    assert [x.id for x in mu_comma_lambda(parents, kids, 2)] == ["k1", "k2"]
    assert [x.id for x in mu_comma_lambda(parents, kids, 2, elitism=1)] == ["p1", "k1"]
    # Too few offspring: parents fill up rather than shrinking the population.
    assert [x.id for x in mu_comma_lambda(parents, kids[:1], 3)] == ["p1", "p2", "k1"]


# Hand-worked example (both objectives maximised):
#   A(1,5) B(2,4) C(3,3) F(4,1) are mutually non-dominated -> front 0
#   D(2,2) is dominated by B and C -> front 1;  E(1,1) by D -> front 2
# Crowding in front 0 (objective ranges 3 and 4):
#   A, F boundary -> inf;  B = (3-1)/3 + (5-3)/4 = 1.1667;  C = (4-2)/3 + (4-1)/4 = 1.4167
POINTS = {"A": (1, 5), "B": (2, 4), "C": (3, 3), "D": (2, 2), "E": (1, 1), "F": (4, 1)}


def test_nsga2_hand_example_fronts_and_crowding() -> None:
    names = sorted(POINTS)
    pts = [POINTS[n] for n in names]
    fronts = [[names[i] for i in f] for f in non_dominated_sort(pts)]
    assert fronts == [["A", "B", "C", "F"], ["D"], ["E"]]
    crowd = crowding_distance([POINTS[n] for n in ["A", "B", "C", "F"]])
    assert crowd[0] == math.inf and crowd[3] == math.inf
    assert crowd[1] == pytest.approx(2 / 3 + 1 / 2)
    assert crowd[2] == pytest.approx(2 / 3 + 3 / 4)


def test_nsga2_hand_example_selection() -> None:
    pop = [m(n, 0.0, objectives=p) for n, p in POINTS.items()]
    assert [x.id for x in nsga2_select(pop, 3)] == ["A", "F", "C"]
    assert [x.id for x in nsga2_select(pop, 5)] == ["A", "F", "C", "B", "D"]
    ranking = nsga2_ranking(pop)
    assert ranking["D"][0] == 1 and ranking["E"][0] == 2


def test_dominates() -> None:
    assert dominates((1, 2), (1, 1))
    assert not dominates((1, 1), (1, 1))
    assert not dominates((2, 0), (0, 2))


def test_pairing_strategies() -> None:
    a = m("a", 0.9, passed="1100", genes=("x", "y"))
    b = m("b", 0.5, passed="1110", genes=("x", "y"))
    c = m("c", 0.4, passed="0011", genes=("z", "w"))
    pop = [a, b, c]
    assert complement(a, c) == 2 and complement(a, b) == 1
    # Big tournaments so the first parent is the fittest and every entrant is seen.
    first, second = pair("complementary", pop, 20, random.Random(3))
    assert (first.id, second.id) == ("a", "c")
    first, second = pair("distance", pop, 20, random.Random(3))
    assert (first.id, second.id) == ("a", "c")
    first, second = pair("fitness", pop, 20, random.Random(3))
    assert (first.id, second.id) == ("a", "b")
