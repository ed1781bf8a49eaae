"""What the dashboard, the report and the metrics show, read from a store.

Every function is a read: none writes to the store. Each returns plain JSON
(dicts, lists, numbers, strings), so the API serves it as it is and the report
renders the same figures. Safe to call from several threads at once (the store
implementations are).
"""

from __future__ import annotations

import difflib
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from evofarm.campaign.approval import stored_decision
from evofarm.campaign.budgets import MICRO
from evofarm.campaign.bundle import decode
from evofarm.campaign.lifecycle import require
from evofarm.campaign.reports.lineage import ancestry, build_graph, first_fitness, operator_of
from evofarm.campaign.reports.readback import best_genome_id, snapshot
from evofarm.campaign.reports.usage import from_counters
from evofarm.errors import CampaignStateError
from evofarm.evolution.engine import EvolutionState
from evofarm.pipeline.loader import dump_pipeline, pipeline_from_data
from evofarm.store.base import COUNTER_FAILURES, EvalKey, PopulationStore

JSON = dict[str, Any]


def campaign_row(store: PopulationStore, campaign: str) -> JSON:
    """One line of the campaigns page: status, progress, best, rate, tokens, USD.

    Raises:
        CampaignStateError: no such campaign.
    """
    snap = snapshot(store, campaign)
    wall = snap.wall_s
    return {
        "id": campaign,
        "status": snap.status,
        "reason": snap.reason,
        "generation": snap.generation,
        "generations": snap.generations,
        "best_fitness": snap.best_fitness,
        "evaluations": snap.evaluations,
        "evaluations_per_s": round(snap.evaluations / wall, 3) if wall > 0 else None,
        "tokens": snap.tokens,
        "cost_usd": round(snap.cost_usd, 6),
        "wall_s": round(wall, 3),
        "failures": store.counters(campaign).get(COUNTER_FAILURES, 0),
    }


def _state(store: PopulationStore, campaign: str) -> EvolutionState | None:
    checkpoint = store.load_checkpoint(campaign)
    return None if checkpoint is None else EvolutionState.model_validate(checkpoint.state)


def campaign_detail(store: PopulationStore, campaign: str) -> JSON:
    """The campaign page's header: its row, the approval decision, budgets, best genome.

    Raises:
        CampaignStateError: no such campaign.
    """
    record = require(store, campaign)
    decoded = decode(campaign, record.spec)
    best = best_genome_id(store, campaign)
    decision = stored_decision(record)  # a human's approve/reject wins over the policy
    counters = store.counters(campaign)
    roles, hits = from_counters(counters)
    return {
        **campaign_row(store, campaign),
        "name": decoded.spec.name,
        "seed": decoded.seed,
        "created_at": record.created_at,
        "best": best[0] if best else None,
        "approval": (
            decision.state if decision else decoded.spec.approval.decide(best[1] if best else None)
        ),
        "decision": decision.model_dump(mode="json") if decision else None,
        "budgets": store.budgets(campaign),
        "counters": counters,
        # The summary's breakdown, read live from the ledger's counters.
        "usage_by_role": {r: t.model_dump() for r, t in roles.items()},
        "cache_hits": hits,
    }


def history(store: PopulationStore, campaign: str) -> list[JSON]:
    """Per generation: best so far, best and median of the genomes evaluated in it.

    ``best`` is the campaign's best after the generation (the checkpoints'
    ``best_history``); ``generation_best`` and ``median`` are over that
    generation's new evaluations (``None`` if it evaluated none).
    """
    rows = store.read_history(campaign)
    by_generation: dict[int, list[JSON]] = defaultdict(list)
    for row in rows:
        by_generation[int(row["generation"])].append(row)
    state = _state(store, campaign)
    best_history = state.best_history if state else []
    last = max([*by_generation, len(best_history) - 1, -1])
    out = []
    for generation in range(last + 1):
        found = by_generation.get(generation, [])
        scores = [float(r["fitness"]) for r in found]
        out.append(
            {
                "generation": generation,
                "best": best_history[generation] if generation < len(best_history) else None,
                "generation_best": max(scores) if scores else None,
                "median": statistics.median(scores) if scores else None,
                "evaluations": len(found),
                "tokens": sum(int(r["tokens"]) for r in found),
                "time_ms": round(sum(float(r["time_ms"]) for r in found), 3),
                "ts": max((float(r["ts"]) for r in found), default=None),
            }
        )
    return out


def lineage(store: PopulationStore, campaign: str) -> JSON:
    """The genealogy DAG (``nodes``/``edges``, see :mod:`evofarm.campaign.reports.lineage`)."""
    docs = _genome_docs(store, campaign)
    return dict(build_graph(docs.values(), first_fitness(store.read_history(campaign))))


def _genome_docs(store: PopulationStore, campaign: str) -> dict[str, JSON]:
    ids = sorted(store.genome_ids(campaign))
    return {i: d for i, d in zip(ids, store.get_genomes(campaign, ids), strict=True) if d}


def _yaml(doc: Mapping[str, Any]) -> str:
    return dump_pipeline(pipeline_from_data(doc["pipeline"], f"<genome {str(doc['id'])[:12]}>"))


def genome_detail(store: PopulationStore, campaign: str, genome: str) -> JSON:
    """One genome: YAML, a unified diff against each parent, mutations, per-case results.

    Raises:
        CampaignStateError: no such campaign or genome.
    """
    record = require(store, campaign)
    doc = store.get_genome(campaign, genome)
    if doc is None:
        raise CampaignStateError(f"campaign {campaign!r} has no genome {genome!r}")
    text = _yaml(doc)
    diffs = []
    for parent in dict.fromkeys(doc.get("parents", []) or []):
        parent_doc = store.get_genome(campaign, str(parent))
        if parent_doc is None:
            continue
        diff = difflib.unified_diff(
            _yaml(parent_doc).splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"parent {str(parent)[:12]}",
            tofile=f"genome {genome[:12]}",
        )
        diffs.append({"parent": parent, "diff": "".join(diff)})
    decoded = decode(campaign, record.spec)
    evaluation = store.get_evaluation(campaign, EvalKey(genome, decoded.suite_id, decoded.fidelity))
    return {
        "id": genome,
        "generation": int(doc.get("generation", 0)),
        "operator": operator_of(doc),
        "parents": list(doc.get("parents", []) or []),
        "mutations": list(doc.get("mutations", []) or []),
        "yaml": text,
        "diffs": diffs,
        "evaluation": _evaluation_view(evaluation),
    }


def _evaluation_view(doc: Mapping[str, Any] | None) -> JSON | None:
    if doc is None:
        return None
    cases = [
        {
            "case": c.get("case_id"),
            "outcome": c.get("outcome"),
            "reason": c.get("reason"),
            "checks_passed": c.get("passed_checks", 0),
            "checks_total": c.get("total_checks", 0),
            "tokens": c.get("tokens", 0),
            "latency_ms": c.get("latency_ms", 0.0),
            "output_excerpt": c.get("output_excerpt", ""),
        }
        for c in doc.get("cases", [])
    ]
    return {
        "score": doc.get("score"),
        "outcome": doc.get("outcome"),
        "reason": doc.get("reason"),
        "tokens": doc.get("tokens"),
        "time_ms": doc.get("time_ms"),
        "cost_usd": doc.get("cost_usd"),
        "cases": cases,
    }


def improvement_counts(graph: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[int]]:
    """Operator -> [evaluated children, children fitter than their best parent]."""
    fitness = {str(n["id"]): n.get("fitness") for n in graph["nodes"]}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for node in graph["nodes"]:
        mine = node.get("fitness")
        parents = [fitness.get(p) for p in node.get("parents", [])]
        known = [p for p in parents if p is not None]
        if node["generation"] == 0 or mine is None or not known:
            continue
        for name in str(node["operator"]).split("+"):
            counts[name][0] += 1
            counts[name][1] += int(float(mine) > max(float(p) for p in known))
    return dict(counts)


def operator_stats(store: PopulationStore, campaign: str) -> list[JSON]:
    """Per operator: attempts, outcome counts, valid-child rate and improvement rate.

    The valid-child rate is the share of attempts that gave a valid child (the
    engine's ``success_rate``); the improvement rate is the share of a
    operator's evaluated children that beat their best parent. They are
    different questions and reported separately.
    """
    state = _state(store, campaign)
    stats = state.operator_stats if state else {}
    improved = improvement_counts(lineage(store, campaign))
    out = []
    for name in sorted(set(stats) | set(improved)):
        s = stats.get(name)
        children, better = improved.get(name, [0, 0])
        out.append(
            {
                "operator": name,
                "attempts": s.attempts if s else 0,
                "applied": s.applied if s else 0,
                "repaired": s.repaired if s else 0,
                "invalid": s.invalid if s else 0,
                "noop": s.noop if s else 0,
                "valid_child_rate": round(s.success_rate, 4) if s else None,
                "evaluated_children": children,
                "improved": better,
                "improvement_rate": round(better / children, 4) if children else None,
            }
        )
    return out


def resources(store: PopulationStore, campaign: str) -> list[JSON]:
    """Resource use over time: per generation tokens, evaluation time, evaluations."""
    return [
        {k: row[k] for k in ("generation", "evaluations", "tokens", "time_ms", "ts")}
        for row in history(store, campaign)
    ]


def museum(store: PopulationStore, campaign: str) -> JSON:
    """The failure museum grouped by outcome: ``{outcome: [entries]}``."""
    groups: dict[str, list[JSON]] = defaultdict(list)
    for entry in store.museum(campaign):
        groups[str(entry.get("outcome", "unknown"))].append(dict(entry))
    for entries in groups.values():
        entries.sort(key=lambda e: (int(e.get("generation", 0)), str(e.get("genome"))))
    return dict(sorted(groups.items()))


def pattern_of(step: Mapping[str, Any]) -> str:
    """A step's pattern: its type, with its operation names (transform) or model (LLM).

    Coarser than a gene (prompt text and parameters are left out), so a
    pattern is a kind of step worth noticing when it first appears.
    """
    kind = str(step.get("type", "?"))
    ops = step.get("operations")
    if isinstance(ops, list):
        names = [str(o.get("op", "?")) if isinstance(o, Mapping) else "?" for o in ops]
        return f"{kind}[{' > '.join(names)}]"
    model = step.get("model")
    return f"{kind}({model})" if model else kind


def gallery(store: PopulationStore, campaign: str) -> list[JSON]:
    """The innovation gallery: the first genome to carry each new step pattern.

    Patterns are :func:`pattern_of` top-level steps; the seeds' patterns are the
    baseline, so only patterns evolution introduced are listed, oldest first.
    """
    docs = _genome_docs(store, campaign)
    fitness = first_fitness(store.read_history(campaign))
    seen: set[str] = set()
    found = []
    for gid, doc in sorted(docs.items(), key=lambda kv: (int(kv[1].get("generation", 0)), kv[0])):
        generation = int(doc.get("generation", 0))
        for step in doc["pipeline"].get("steps", []):
            pattern = pattern_of(step)
            if pattern in seen:
                continue
            seen.add(pattern)
            if generation == 0:
                continue
            found.append(
                {
                    "genome": gid,
                    "generation": generation,
                    "step": step.get("name"),
                    "pattern": pattern,
                    "operator": operator_of(doc),
                    "fitness": fitness.get(gid),
                }
            )
    return found


def best_lineage(store: PopulationStore, campaign: str) -> list[JSON]:
    """The best genome's ancestry as nodes, oldest first (empty before any evaluation)."""
    best = best_genome_id(store, campaign)
    if best is None:
        return []
    graph = lineage(store, campaign)
    nodes = {n["id"]: n for n in graph["nodes"]}
    return [nodes[g] for g in ancestry(graph, best[0])]


def cost_usd(store: PopulationStore, campaign: str) -> float:
    """The campaign's cost so far in USD (the counted, trusted figure)."""
    return store.counters(campaign).get("cost_micro_usd", 0) / MICRO
