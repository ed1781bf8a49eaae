"""The lineage DAG: built from genome records, never from the raw worker edges."""

from __future__ import annotations

from evofarm.campaign.reports.lineage import ancestry, build_graph, first_fitness, operator_of


def _doc(gid: str, generation: int, parents: list[str], ops: list[str]) -> dict[str, object]:
    return {
        "id": gid,
        "generation": generation,
        "parents": parents,
        "mutations": [{"operator": o} for o in ops],
    }


def test_a_rebred_seed_gets_no_parents_and_edges_are_unique() -> None:
    # "s" is a seed; a generation-3 crossover rebuilt it, but the stored record is the seed's.
    docs = [
        _doc("s", 0, [], []),
        _doc("t", 0, [], []),
        _doc("a", 1, ["s", "s"], ["step_mutation", "step_mutation"]),
        _doc("b", 2, ["a", "t"], ["one_point"]),
        _doc("c", 3, ["b", "zz"], ["prompt_evolution"]),  # zz: not stored
    ]
    graph = build_graph(docs, {"s": 0.1, "a": 0.2})
    edges = [(e["parent"], e["child"], e["operator"]) for e in graph["edges"]]
    assert edges == [
        ("s", "a", "step_mutation"),
        ("a", "b", "one_point"),
        ("t", "b", "one_point"),
        ("b", "c", "prompt_evolution"),
    ]
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["s"]["operator"] == "seed" and nodes["s"]["parents"] == []
    assert (nodes["a"]["fitness"], nodes["b"]["fitness"]) == (0.2, None)
    assert ancestry(graph, "c") == ["s", "t", "a", "b", "c"]


def test_a_parent_from_the_same_or_a_later_generation_is_dropped() -> None:
    docs = [_doc("x", 2, ["y"], ["m"]), _doc("y", 2, [], ["m"]), _doc("z", 1, ["x"], ["m"])]
    assert build_graph(docs, {})["edges"] == []


def test_operator_names_and_first_fitness() -> None:
    chained = {"mutations": [{"operator": "a"}, {"operator": "b"}, {"operator": "a"}]}
    assert operator_of(chained) == "a+b"
    rows = [{"genome": "g", "fitness": 0.5}, {"genome": "g", "fitness": 0.9}]
    assert first_fitness(rows) == {"g": 0.5}
