"""A campaign's genealogy as a DAG by generation (export, dashboard, report).

The truth about a genome's origin is its stored record: the first time a
pipeline was bred, its generation, parents and mutations were kept (a later
identical child is the same genome and changes nothing). The raw lineage edges
the workers add are not: when a generation-3 crossover rebuilds a seed, the
worker still adds edges pointing at the seed, which made a cycle and, with
mutate and crossover recording the same pair, duplicated edges. So the graph is
built from the genome records alone:

* one node per genome: ``id``, ``generation``, ``fitness`` (the first
  evaluation's, ``None`` if never evaluated), ``operator`` (the operators that
  made it joined by ``+``, ``seed`` for generation 0), ``parents``;
* one edge per (parent, child) pair, from a parent born in an earlier
  generation, naming the operator that made the child.

Pure functions over store documents; the store read is in :func:`lineage_graph`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from evofarm.store.base import PopulationStore

SEED = "seed"


def operator_of(doc: Mapping[str, Any]) -> str:
    """The operator name(s) that made a genome record (``seed`` for none)."""
    names = [str(m.get("operator", "?")) for m in doc.get("mutations", []) or []]
    return "+".join(dict.fromkeys(names)) if names else SEED


def build_graph(
    genomes: Iterable[Mapping[str, Any]], fitness: Mapping[str, float]
) -> dict[str, list[dict[str, Any]]]:
    """The DAG of genome records: ``{"nodes": [...], "edges": [...]}``.

    Nodes are sorted by (generation, id), edges by (child generation, child,
    parent). Every edge goes from an earlier generation to a later one and
    appears once; a parent the records do not hold is left out.
    """
    docs = {str(d["id"]): d for d in genomes}
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for gid, doc in sorted(docs.items(), key=lambda kv: (int(kv[1].get("generation", 0)), kv[0])):
        generation = int(doc.get("generation", 0))
        operator = operator_of(doc)
        parents = [str(p) for p in dict.fromkeys(doc.get("parents", []) or [])]
        kept = [p for p in parents if p in docs and int(docs[p].get("generation", 0)) < generation]
        nodes.append(
            {
                "id": gid,
                "generation": generation,
                "fitness": fitness.get(gid),
                "operator": operator,
                "parents": kept,
            }
        )
        edges.extend(
            {"parent": p, "child": gid, "operator": operator, "generation": generation}
            for p in kept
        )
    return {"nodes": nodes, "edges": edges}


def first_fitness(history: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Genome id -> fitness of its first fitness-history row."""
    found: dict[str, float] = {}
    for row in history:
        found.setdefault(str(row["genome"]), float(row["fitness"]))
    return found


def lineage_graph(store: PopulationStore, campaign: str) -> dict[str, list[dict[str, Any]]]:
    """The campaign's genealogy (see :func:`build_graph`), read from the store.

    Raises:
        StoreError: the store failed.
    """
    ids = sorted(store.genome_ids(campaign))
    docs = [d for d in store.get_genomes(campaign, ids) if d is not None]
    return build_graph(docs, first_fitness(store.read_history(campaign)))


def ancestry(graph: Mapping[str, Sequence[Mapping[str, Any]]], genome: str) -> list[str]:
    """``genome`` and all its ancestors in the graph, oldest generation first."""
    parents = {str(n["id"]): list(n.get("parents", [])) for n in graph["nodes"]}
    generation = {str(n["id"]): int(n["generation"]) for n in graph["nodes"]}
    seen: set[str] = set()
    todo = [genome]
    while todo:
        gid = todo.pop()
        if gid in seen or gid not in parents:
            continue
        seen.add(gid)
        todo.extend(parents[gid])
    return sorted(seen, key=lambda g: (generation[g], g))
