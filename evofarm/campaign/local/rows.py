"""The in-process loop's ``generations.jsonl`` rows: a generation's metrics and lineage."""

from __future__ import annotations

from typing import Any

from evofarm.campaign.local.run import Run
from evofarm.campaign.reports import outputs
from evofarm.evolution.engine import (
    BreedResult,
    EvolutionState,
)
from evofarm.fitness.metrics import LineageSample, generation_metrics, signatures


def _lineage(run: Run, results: list[BreedResult]) -> list[LineageSample]:
    samples = []
    for result in sorted(results, key=lambda r: r.slot):
        if result.genome is None or result.genome not in run.evaluations:
            continue  # discarded, or culled by the nursery (the farm's report skips it too)
        child = run.genomes[result.genome]
        parents = tuple(
            (signatures(run.genomes[p].pipeline), run.evaluations[p].score)
            for p in child.parents
            if p in run.genomes and p in run.evaluations
        )
        samples.append(
            LineageSample(
                child=signatures(child.pipeline),
                child_fitness=run.evaluations[result.genome].score,
                parents=parents,
            )
        )
    return samples


def generation_row(
    run: Run,
    next_state: EvolutionState,
    new_ids: list[str],
    *,
    results: list[BreedResult],
    known_before: list[Any],
    started: float,
) -> None:
    """Append a generation's row (metrics) to generations.jsonl, when writing outputs."""
    if run.out_dir is not None:
        metrics = generation_metrics(
            generation=next_state.generation,
            genomes=[run.genomes[i].pipeline for i in new_ids],
            elapsed_s=run.clock() - started,
            archive=known_before,
            lineage=_lineage(run, results),
            best_history=next_state.best_history,
        )
        outputs.append_generation(
            run.out_dir,
            outputs.generation_row(run.campaign, next_state, len(run.evaluations), metrics),
        )


def seed_row(run: Run, state: EvolutionState, seeds: list[dict[str, Any]]) -> None:
    """Generation 0's ``generations.jsonl`` row: the evaluated seeds."""
    assert run.out_dir is not None
    metrics = generation_metrics(
        generation=0,
        genomes=seeds,
        elapsed_s=run.clock() - run.started,
        archive=[],
        lineage=[],
        best_history=state.best_history,
    )
    outputs.append_generation(
        run.out_dir, outputs.generation_row(run.campaign, state, len(run.evaluations), metrics)
    )
