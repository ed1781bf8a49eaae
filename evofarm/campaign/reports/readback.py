"""Reading a farm campaign back: progress snapshots, output files, best, export.

Everything comes from the store, so any process (the ``run`` that started the
campaign, a later ``watch``, ``best`` or ``export``) sees the same thing. The
output files are the in-process loop's (:mod:`evofarm.campaign.reports.outputs`):
``summary.json``, ``best.yaml`` and ``fitness-history.jsonl``.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from evofarm.campaign.approval import stored_decision
from evofarm.campaign.budgets import MICRO
from evofarm.campaign.bundle import decode
from evofarm.campaign.lifecycle import ENDED, Status, require
from evofarm.campaign.reports import anomaly_events, final, outputs
from evofarm.campaign.reports.lineage import lineage_graph
from evofarm.campaign.reports.outputs import BestRef, HistoryRow, Summary
from evofarm.campaign.reports.usage import from_counters
from evofarm.campaign.scheduler.checkpoints import INFO_BEST, INFO_GENERATION, INFO_WALL, TIMING
from evofarm.campaign.worker.work import BREED, load_genomes
from evofarm.errors import CampaignStateError
from evofarm.evolution.engine import EvolutionState
from evofarm.fitness.metrics import LineageSample, generation_metrics, signatures
from evofarm.pipeline.schema import Pipeline
from evofarm.store.base import (
    COUNTER_CASE_RUNS,
    COUNTER_COST,
    COUNTER_EVALUATIONS,
    COUNTER_TOKENS,
    PopulationStore,
)


@dataclass(frozen=True)
class Snapshot:
    """Where a campaign is now (cheap enough to read several times a second)."""

    campaign: str
    status: str
    reason: str
    generation: int
    generations: int
    best_fitness: float | None
    evaluations: int
    tokens: int
    cost_usd: float
    wall_s: float


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def snapshot(store: PopulationStore, campaign: str) -> Snapshot:
    """The campaign's current progress.

    Raises:
        CampaignStateError: no such campaign.
    """
    status = store.get_status(campaign)
    if status is None:
        raise CampaignStateError(f"no campaign {campaign!r}")
    counters = store.counters(campaign)
    reason = ""
    wall_s = _float(store.get_info(campaign, INFO_WALL))
    if status in ENDED:  # the full record carries the spec: read it only at the end
        record = store.get_campaign(campaign)
        reason = record.reason if record is not None else ""
    elif status == Status.SUBMITTED and wall_s is None:
        # No scheduler has started it yet: its wall time runs from submission.
        record = store.get_campaign(campaign)
        wall_s = max(0.0, time.time() - record.created_at) if record is not None else None

    def info(name: str) -> str | None:
        return store.get_info(campaign, name)

    return Snapshot(
        campaign=campaign,
        status=status,
        reason=reason,
        generation=int(info(INFO_GENERATION) or 0),
        generations=int(info("generations") or 0),
        best_fitness=_float(info(INFO_BEST)),
        evaluations=counters.get(COUNTER_EVALUATIONS, 0),
        tokens=counters.get(COUNTER_TOKENS, 0),
        cost_usd=counters.get(COUNTER_COST, 0) / MICRO,
        wall_s=wall_s or 0.0,
    )


def best_genome_id(store: PopulationStore, campaign: str) -> tuple[str, float] | None:
    """The best genome of the latest checkpoint and its fitness, or None."""
    checkpoint = store.load_checkpoint(campaign)
    if checkpoint is None or not checkpoint.state.get("archive"):
        return None
    top = checkpoint.state["archive"][0]
    return str(top["id"]), float(top["fitness"])


def best_pipeline(store: PopulationStore, campaign: str) -> Pipeline:
    """The best pipeline found so far.

    Raises:
        CampaignStateError: no such campaign, or nothing evaluated yet.
    """
    require(store, campaign)
    decided = final.decode(store.get_info(campaign, final.INFO_FINAL))
    best = (decided.genome, decided.fitness) if decided else best_genome_id(store, campaign)
    if best is None:
        raise CampaignStateError(f"campaign {campaign!r} has no evaluated genome yet")
    return load_genomes(store, campaign, [best[0]])[best[0]].to_pipeline()


def summary(store: PopulationStore, campaign: str) -> Summary:
    """``summary.json`` of an ended campaign, as the in-process loop writes it.

    Raises:
        CampaignStateError: no such campaign, or it has not ended.
    """
    record = require(store, campaign)
    if record.status not in ENDED:
        raise CampaignStateError(f"campaign {campaign!r} is still {record.status}")
    decoded = decode(campaign, record.spec)
    snap = snapshot(store, campaign)
    best = best_genome_id(store, campaign)
    best_ref = BestRef(genome=best[0] if best else None, fitness=best[1] if best else None)
    # The final phase's decision (winner chosen on validation, simplified) wins.
    decided = final.decode(store.get_info(campaign, final.INFO_FINAL))
    if decided is not None:
        best_ref = final.best_ref(decided)
    decision = stored_decision(record)  # a human's approve/reject wins over the policy
    counters = store.counters(campaign)
    roles, hits = from_counters(counters)
    return Summary(
        campaign=campaign,
        status=cast(outputs.Status, record.status),
        reason=record.reason,
        seed=decoded.seed,
        generations=snap.generation,
        evaluations=snap.evaluations,
        best=best_ref,
        tokens=snap.tokens,
        cost_usd=round(snap.cost_usd, 6),
        wall_s=round(snap.wall_s, 3),
        approval=decision.state if decision else decoded.spec.approval.decide(best_ref.fitness),
        case_runs=counters.get(COUNTER_CASE_RUNS, 0),
        usage_by_role=roles,
        cache_hits=hits,
    )


def generation_rows(store: PopulationStore, campaign: str) -> list[dict[str, Any]]:
    """The rows of ``generations.jsonl``, rebuilt from the store as the loop writes them.

    One row per generation from the seeds (generation 0): best genome and fitness, evaluations
    so far, the meta-metrics (innovation against every earlier genome,
    reusability from the lineage, self-improvement velocity, the generation's
    wall time) and each operator's success rate. Reads every genome once.
    """
    final = store.load_checkpoint(campaign)
    if final is None:
        return []
    history = store.read_history(campaign)
    new_by_generation: dict[int, list[str]] = defaultdict(list)
    score: dict[str, float] = {}
    for row in history:
        new_by_generation[int(row["generation"])].append(str(row["genome"]))
        score[str(row["genome"])] = float(row["fitness"])
    ids = sorted(store.genome_ids(campaign))
    docs = {gid: doc for gid, doc in zip(ids, store.get_genomes(campaign, ids), strict=True) if doc}
    evaluations = 0
    rows: list[dict[str, Any]] = []
    for generation in range(final.generation + 1):
        checkpoint = store.load_checkpoint(campaign, generation)
        if checkpoint is None:
            continue
        state = EvolutionState.model_validate(checkpoint.state)
        new_ids = sorted(new_by_generation[generation])
        evaluations += len(new_ids)
        timing = store.task_results(campaign, generation, TIMING).get(0, {})
        breeds = store.task_results(campaign, generation, BREED)
        lineage = []
        for slot in sorted(breeds):
            child_id = breeds[slot].get("genome")
            child = docs.get(str(child_id)) if child_id else None
            if child is None or child_id not in score:
                continue
            parents = tuple(
                (signatures(docs[p]["pipeline"]), score[p])
                for p in child.get("parents", [])
                if p in docs and p in score
            )
            lineage.append(
                LineageSample(
                    child=signatures(child["pipeline"]),
                    child_fitness=score[str(child_id)],
                    parents=parents,
                )
            )
        metrics = generation_metrics(
            generation=generation,
            genomes=[docs[i]["pipeline"] for i in new_ids if i in docs],
            elapsed_s=float(timing.get("elapsed_s", 0.0)),
            archive=[
                d["pipeline"] for d in docs.values() if int(d.get("generation", 0)) < generation
            ],
            lineage=lineage,
            best_history=state.best_history,
        )
        rows.append(outputs.generation_row(campaign, state, evaluations, metrics))
    return rows


def write_outputs(store: PopulationStore, campaign: str, out_dir: Path) -> Summary:
    """Write summary.json, best.yaml, fitness-history.jsonl, generations.jsonl (and anomalies).

    Works for any ended campaign, whoever ran it: everything comes from the store,
    so it also rebuilds the files of a run whose ``--out`` writer was killed.
    """
    result = summary(store, campaign)
    outputs.reset(out_dir)
    outputs.append_history(
        out_dir, (HistoryRow.model_validate(r) for r in store.read_history(campaign))
    )
    for row in generation_rows(store, campaign):
        outputs.append_generation(out_dir, row)
    found = anomaly_events.stored(store, campaign)
    if found:
        outputs.append_anomalies(out_dir, found)
    if result.best.genome is not None:
        outputs.write_best(out_dir, best_pipeline(store, campaign))
    outputs.write_summary(out_dir, result)
    return result


def export(store: PopulationStore, campaign: str, out_dir: Path) -> tuple[Path, Path]:
    """Write the fitness history (JSONL) and the lineage (JSON); return both paths.

    ``lineage.json`` is ``{"campaign", "nodes", "edges"}``, the DAG of
    :func:`evofarm.campaign.reports.lineage.lineage_graph`.

    Raises:
        CampaignStateError: no such campaign.
    """
    require(store, campaign)
    out_dir.mkdir(parents=True, exist_ok=True)
    history = out_dir / outputs.HISTORY
    history.unlink(missing_ok=True)
    outputs.append_history(
        out_dir, (HistoryRow.model_validate(r) for r in store.read_history(campaign))
    )
    lineage = out_dir / "lineage.json"
    graph = lineage_graph(store, campaign)
    text = json.dumps({"campaign": campaign, **graph}, indent=2) + "\n"
    lineage.write_text(text, encoding="utf-8")
    return history, lineage
