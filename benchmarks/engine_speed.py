"""Engine speed: how long ``select`` and ``plan_generation`` take at farm scale.

Between two generations the farm scheduler runs ``select`` (the survivors of
generation g) and ``plan_generation`` (the breed tasks of g+1) while every
worker idles, so their cost is most of the generation turnaround that
``benchmarks/farm_throughput.py`` reports.

The benchmark builds a realistic state deterministically: the demo campaign
sized to ``--population`` (offspring = population), its seed pipeline and
operators, and the synthetic evaluator's scores (24 cases, no latency, as the
farm benchmark uses). It runs the engine loop until the population holds
``--population`` distinct genomes, breeds one more generation, then times
``select`` on that generation's results and ``plan_generation`` on the state
it returns, ``--repeat`` times each. Prints one JSON line (median/p90/max ms).

Usage::

    python benchmarks/engine_speed.py [--population 256] [--repeat 30]
        [--selection mu_plus_lambda] [--pairing complementary]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.evolution.engine import (
    BreedResult,
    EvolutionState,
    breed_context,
    initial_genomes,
    make_offspring,
    plan_generation,
    seed_state,
    select,
    to_evaluate,
)
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.pipeline.loader import load_pipeline
from evofarm.testing import synthetic_eval

DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "campaigns" / "demo.yaml"
#: Generations bred at most while filling the population (the demo has one seed).
MAX_FILL_GENERATIONS = 50


def campaign(population: int, selection: str | None, pairing: str | None) -> CampaignSpec:
    """The demo campaign at the benchmark's size, optionally with another strategy."""
    spec = load_campaign(DEMO)
    update: dict[str, object] = {
        "population": population,
        "offspring": population,
        "target_fitness": None,
    }
    if selection:
        update["selection"] = selection
    if pairing:
        update["pairing"] = pairing
    evolution = spec.evolution.model_copy(update=update)
    return spec.model_copy(update={"evolution": evolution})


class World:
    """Genomes and evaluations of one benchmark run (the store, in memory)."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec = spec
        self.suite = spec.load_suite()
        self.genomes: dict[str, Genome] = {}
        self.evaluations: dict[str, Evaluation] = {}

    def evaluate(self, ids: list[str]) -> None:
        """Store the synthetic evaluation of each genome in ``ids``."""
        for gid in ids:
            self.evaluations[gid] = synthetic_eval.evaluate(
                self.genomes[gid], self.spec, self.suite
            )

    def breed(self, state: EvolutionState) -> list[BreedResult]:
        """Plan and breed one generation after ``state``; evaluate its new genomes."""
        results: list[BreedResult] = []
        for task in plan_generation(state, self.spec):
            parents = [self.genomes[i] for i in task.parents]
            donors = [self.genomes[i] for i in task.donors]
            child = make_offspring(task, parents, breed_context(task, self.spec, donors))
            results.append(child.result)
            if child.genome is not None:
                self.genomes.setdefault(child.genome.id, child.genome)
        self.evaluate(to_evaluate(results, self.evaluations))
        return results


def build(spec: CampaignSpec, seed: int) -> tuple[World, EvolutionState, list[BreedResult]]:
    """A full-population state and the results of the generation bred from it.

    Raises:
        RuntimeError: The population did not fill within ``MAX_FILL_GENERATIONS``.
    """
    world = World(spec)
    seeds = initial_genomes([load_pipeline(p) for p in spec.seed_paths])
    world.genomes.update({g.id: g for g in seeds})
    world.evaluate([g.id for g in seeds])
    state = seed_state(spec, "bench", seed, seeds, world.evaluations)
    size = spec.evolution.population
    while len(state.population) < size:
        if state.generation >= MAX_FILL_GENERATIONS:
            raise RuntimeError(f"population did not reach {size} distinct genomes")
        results = world.breed(state)
        state = select(state, results, world.genomes, world.evaluations, spec)
    return world, state, world.breed(state)


def timed(run: Callable[[], object], repeat: int) -> list[float]:
    """Wall milliseconds of ``repeat`` calls of ``run``."""
    samples: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    """Median, 90th percentile and max of ``samples``, in ms."""
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(p90, 3),
        "max": round(ordered[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--selection", default=None, help="override the demo's selection")
    parser.add_argument("--pairing", default=None, help="override the demo's pairing")
    args = parser.parse_args()

    spec = campaign(args.population, args.selection, args.pairing)
    world, state, results = build(spec, args.seed)
    after = select(state, results, world.genomes, world.evaluations, spec)
    select_ms = timed(
        lambda: select(state, results, world.genomes, world.evaluations, spec), args.repeat
    )
    plan_ms = timed(lambda: plan_generation(after, spec), args.repeat)
    both = [s + p for s, p in zip(select_ms, plan_ms, strict=True)]
    print(
        json.dumps(
            {
                "benchmark": "engine_speed",
                "select_ms": summary(select_ms),
                "plan_generation_ms": summary(plan_ms),
                "select_plus_plan_ms": summary(both),
                "genomes": len(world.genomes),
                "generation": after.generation,
                "params": {
                    "population": args.population,
                    "repeat": args.repeat,
                    "seed": args.seed,
                    "selection": spec.evolution.selection,
                    "pairing": spec.evolution.pairing,
                    "python": sys.version.split()[0],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
