"""The nursery: case runs to reach the best of a fully evaluated campaign.

For each seed, the demo campaign (``pipelines/campaigns/demo.yaml``, 24 cases,
no LLM) runs in-process twice with the same settings and seed: once evaluating
every child on every case, once with ``evolution.nursery`` (default stages
0.2/0.5 then 0.5/0.5: a child runs 5 cases, the best half 7 more, the best
quarter of the cohort all 24). Both stop at the same generation count (no
target fitness), so they are comparable.

``case_runs_ratio`` is the case runs the nursery campaign spent until it first
fully evaluated a genome at least as fit as the full campaign's best, over the
full campaign's case runs; ``same_best`` says the nursery campaign's final
best has the full campaign's best fitness. ``to_best_ratio`` is the stricter
figure: over the case runs the full campaign itself needed to first reach its
best; ``total_case_runs_ratio`` compares whole campaigns. Prints one JSON object (per seed
and the mean ratio).

With ``--farm`` the same two campaigns per seed also run on an embedded farm
(private Redis, ``--workers`` worker processes evaluating the real pipelines
``in_process``), under the ``farm`` key: the case runs are the store's
trusted count (``summary.json``'s ``case_runs``), ``same_best`` as above, and
``matches_in_process`` says the farm's nursery campaign found the in-process
one's best genome with exactly its case runs. The farm sees case runs per
generation (its checkpoints), not per evaluation, so its ``case_runs_ratio``
counts up to the end of the generation that first reached the full best: an
upper bound of the in-process figure's kind.

With ``--mode steady`` both campaigns run in steady state (each birth
promoted or culled on its own against its stage's last ``lambda`` results,
:mod:`evofarm.evolution.steady_nursery`); on the farm they are then not
reproducible run to run, so ``matches_in_process`` is expected false there.

Usage::

    python benchmarks/nursery.py [--seeds 1 2 3] [--generations 25]
        [--stages 0.2:0.5 0.5:0.5] [--mode steady] [--farm [--workers 2]]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from evofarm.campaign import control
from evofarm.campaign.local.evaluator import make_evaluator, make_staged_evaluator
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports import readback
from evofarm.campaign.scheduler.checkpoints import TIMING
from evofarm.campaign.scheduler.driver import SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.evolution.genome import Genome
from evofarm.evolution.nursery import NurseryConfig, NurseryStage
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm, connect_farm
from evofarm.fitness.records import Evaluation
from evofarm.store.base import EvalKey

DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "campaigns" / "demo.yaml"


#: ``evolution.mode`` of both campaigns (``--mode``).
MODE = {"mode": "generational"}


def _spec(generations: int, nursery: NurseryConfig | None) -> CampaignSpec:
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={"generations": generations, "target_fitness": None, "nursery": nursery, **MODE}
    )
    budgets = spec.budgets.model_copy(update={"max_evaluations": None, "max_wall_s": None})
    return spec.model_copy(update={"evolution": evolution, "budgets": budgets})


def _full(spec: CampaignSpec, seed: int) -> dict[str, Any]:
    suite = spec.load_suite()
    plain = make_evaluator(spec, suite)
    scores: list[tuple[int, float]] = []

    def recording(genome: Genome) -> Evaluation:
        evaluation = plain(genome)
        scores.append((len(evaluation.cases), evaluation.score))
        return evaluation

    result = run_in_process(spec, seed=seed, evaluator=recording)
    best = result.summary.best.fitness or 0.0
    spent, to_best = 0, None
    for cases, score in scores:
        spent += cases
        if to_best is None and score >= best:
            to_best = spent
    return {
        "best": result.summary.best.fitness,
        "genome": result.summary.best.genome,
        "case_runs": result.case_runs,
        "case_runs_to_best": to_best,
        "evaluations": result.summary.evaluations,
    }


def _nursery(spec: CampaignSpec, seed: int, target: float) -> dict[str, Any]:
    suite = spec.load_suite()
    staged = make_staged_evaluator(spec, suite)
    runs = {"total": 0, "at_target": None}

    def counting(genome: Genome, fidelity: float, earlier: Evaluation | None) -> Evaluation:
        evaluation = staged(genome, fidelity, earlier)
        before = {c.case_id for c in earlier.cases} if earlier else set()
        runs["total"] = int(runs["total"] or 0) + sum(
            1 for c in evaluation.cases if c.case_id not in before
        )
        full = fidelity >= spec.fidelity
        if full and runs["at_target"] is None and evaluation.score >= target:
            runs["at_target"] = runs["total"]
        return evaluation

    def seeds(genome: Genome) -> Evaluation:
        return counting(genome, spec.fidelity, None)

    result = run_in_process(spec, seed=seed, evaluator=seeds, staged_evaluator=counting)
    assert result.state is not None
    return {
        "best": result.summary.best.fitness,
        "genome": result.summary.best.genome,
        "case_runs": result.case_runs,
        "case_runs_to_best": runs["at_target"],
        "evaluations": result.summary.evaluations,
        "culled": result.state.counters.culled,
    }


def _on_farm(farm: Farm, spec: CampaignSpec, seed: int) -> dict[str, Any]:
    """One campaign on the farm: its best, case runs and (nursery) case runs per generation."""
    campaign = control.submit(farm.store, spec, seed=seed)
    run_scheduler(farm, campaign, options=SchedulerOptions(wait_s=0.2))
    summary = readback.summary(farm.store, campaign)
    doc: dict[str, Any] = {
        "best": summary.best.fitness,
        "genome": summary.best.genome,
        "case_runs": summary.case_runs,
        "evaluations": summary.evaluations,
    }
    if spec.evolution.nursery is not None:
        checkpoint = farm.store.load_checkpoint(campaign)
        assert checkpoint is not None
        doc["culled"] = checkpoint.state["counters"].get("culled", 0)
        # The final phase may end on a simplified winner: the whole campaign reached it.
        doc["by_generation"] = [
            *_by_generation(farm, campaign, checkpoint.generation),
            (summary.best.fitness or 0.0, summary.case_runs),
        ]
    return doc


def _by_generation(farm: Farm, campaign: str, last: int) -> list[tuple[float, int]]:
    """(best fitness, case runs so far) at each checkpoint, the seeds' included."""
    store = farm.store
    seeds = [str(row["genome"]) for row in store.read_history(campaign) if row["generation"] == 0]
    bundle = store.get_campaign(campaign)
    assert bundle is not None
    keys = [EvalKey(g, bundle.spec["suite_id"], bundle.spec["fidelity"]) for g in seeds]
    runs = sum(len(d["cases"]) for d in store.get_evaluations(campaign, keys) if d)
    rows = []
    for generation in range(last + 1):
        checkpoint = store.load_checkpoint(campaign, generation)
        assert checkpoint is not None
        if generation > 0:
            timing = store.task_results(campaign, generation, TIMING)
            if 0 not in timing:
                continue  # steady state keeps no per-generation timing: the total stands
            runs = int(timing[0]["case_runs"])
        rows.append((float(checkpoint.state["archive"][0]["fitness"]), runs))
    return rows


def _farm(args: argparse.Namespace, nursery: NurseryConfig, local: list[dict[str, Any]]) -> Any:
    """The comparison on an embedded farm (see the module docs)."""
    runs = []
    with (
        tempfile.TemporaryDirectory(prefix="evofarm-nursery-") as tmp,
        EmbeddedFarm(
            Path(tmp), workers=args.workers, concurrency=1, env={"EVOFARM_EVALUATOR": "in_process"}
        ) as processes,
    ):
        processes.wait_ready(timeout=120)
        store, app = connect_farm(processes.redis_url, processes.redis_url)
        farm = Farm(store, app, processes)
        for seed, here in zip(args.seeds, local, strict=True):
            full = _on_farm(farm, _spec(args.generations, None), seed)
            staged = _on_farm(farm, _spec(args.generations, nursery), seed)
            reached = next(
                (n for best, n in staged.pop("by_generation") if best >= full["best"]), None
            )
            runs.append(
                {
                    "seed": seed,
                    "full": full,
                    "nursery": {**staged, "case_runs_to_best": reached},
                    "case_runs_ratio": None
                    if reached is None
                    else round(reached / full["case_runs"], 4),
                    "total_case_runs_ratio": round(staged["case_runs"] / full["case_runs"], 4),
                    "same_best": staged["best"] == full["best"],
                    "matches_in_process": (staged["genome"], staged["case_runs"])
                    == (here["nursery"]["genome"], here["nursery"]["case_runs"])
                    and (full["genome"], full["case_runs"])
                    == (here["full"]["genome"], here["full"]["case_runs"]),
                }
            )
        farm.close()
    ratios = [r["case_runs_ratio"] for r in runs if r["case_runs_ratio"] is not None]
    return {
        "workers": args.workers,
        "runs": runs,
        "case_runs_ratio": round(sum(ratios) / len(ratios), 4) if ratios else None,
        "same_best": all(r["same_best"] for r in runs),
        "matches_in_process": all(r["matches_in_process"] for r in runs),
    }


def main() -> None:
    """Run the comparison and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--generations", type=int, default=25)
    parser.add_argument("--stages", nargs="+", default=["0.2:0.5", "0.5:0.5"])
    parser.add_argument("--farm", action="store_true", help="also run on an embedded farm")
    parser.add_argument("--workers", type=int, default=2, help="farm worker processes")
    parser.add_argument("--mode", choices=["generational", "steady"], default="generational")
    args = parser.parse_args()
    MODE["mode"] = args.mode
    stages = [NurseryStage(fraction=float(a), promote=float(b)) for a, b in
              (s.split(":") for s in args.stages)]  # fmt: skip
    nursery = NurseryConfig(stages=stages)
    rows = []
    started = time.perf_counter()
    for seed in args.seeds:
        full = _full(_spec(args.generations, None), seed)
        staged = _nursery(_spec(args.generations, nursery), seed, full["best"])
        reached = staged["case_runs_to_best"]
        rows.append(
            {
                "seed": seed,
                "full": full,
                "nursery": staged,
                "case_runs_ratio": None
                if reached is None
                else round(reached / full["case_runs"], 4),
                "to_best_ratio": None
                if reached is None
                else round(reached / full["case_runs_to_best"], 4),
                "total_case_runs_ratio": round(staged["case_runs"] / full["case_runs"], 4),
                "same_best": staged["best"] == full["best"],
            }
        )
    ratios = [r["case_runs_ratio"] for r in rows if r["case_runs_ratio"] is not None]
    to_best = [r["to_best_ratio"] for r in rows if r["to_best_ratio"] is not None]
    farm = _farm(args, nursery, rows) if args.farm else None
    print(
        json.dumps(
            {
                "benchmark": "nursery",
                "campaign": "demo",
                "mode": args.mode,
                "generations": args.generations,
                "stages": [s.model_dump() for s in stages],
                "runs": rows,
                "case_runs_ratio": round(sum(ratios) / len(ratios), 4) if ratios else None,
                "to_best_ratio": round(sum(to_best) / len(to_best), 4) if to_best else None,
                "same_best": all(r["same_best"] for r in rows),
                **({"farm": farm} if farm is not None else {}),
                "wall_s": round(time.perf_counter() - started, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
