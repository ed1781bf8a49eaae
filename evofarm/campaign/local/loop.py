"""The in-process campaign loop: the reference result the farm must reproduce.

:func:`run_in_process` drives :mod:`evofarm.evolution.engine` exactly as the
module docstring there describes, in one process: evaluate the seeds, then per
generation plan, breed, evaluate the new genomes (each distinct genome once per
suite and fidelity), select, record. It enforces the campaign's budgets:

* ``max_evaluations`` is a hard cap: a generation whose new genomes would take
  the count past it is not started;
* ``max_tokens``, ``max_usd`` and ``max_wall_s`` are checked after every
  generation; crossing one stops the campaign there.

It stops early (status ``completed``) once the best fitness reaches
``evolution.target_fitness``. Budget stops have status ``stopped`` and the
budget's name in the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evofarm.campaign.genesis import seeds_and_usage
from evofarm.campaign.local.evaluator import Evaluator, make_evaluator
from evofarm.campaign.proposer import CampaignProposer
from evofarm.campaign.reports import outputs
from evofarm.campaign.reports.outputs import BestRef, HistoryRow, Status, Summary
from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.engine import (
    BreedResult,
    EvolutionState,
    breed_context,
    evidence_for,
    initial_genomes,
    make_offspring,
    plan_generation,
    seed_state,
    select,
    to_evaluate,
)
from evofarm.evolution.examples import Example, examples_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.attempts import attempts_of
from evofarm.evolution.llm.runtime import Attempt
from evofarm.evolution.llm.usage import RoleUsage, usage_by_role
from evofarm.evolution.material import Material, material_of
from evofarm.fitness.evaluation import Evaluation
from evofarm.fitness.metrics import LineageSample, generation_metrics, signatures


@dataclass(frozen=True)
class Progress:
    """What the loop reports after the seeds and after every generation."""

    generation: int
    generations: int
    best_fitness: float
    evaluations: int
    tokens: int
    cost_usd: float
    elapsed_s: float


ProgressFn = Callable[[Progress], None]


@dataclass
class CampaignResult:
    """Everything a finished in-process campaign knows."""

    summary: Summary
    state: EvolutionState | None
    best: Genome | None
    genomes: dict[str, Genome] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)


@dataclass
class _Run:
    spec: CampaignSpec
    seed: int
    evaluator: Evaluator
    out_dir: Path | None
    clock: Callable[[], float]
    started: float
    genomes: dict[str, Genome] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    tokens: int = 0
    cost_usd: float = 0.0
    examples: list[Example] = field(default_factory=list)
    material: Material = field(default_factory=Material)
    proposer: CampaignProposer | None = None
    proposer_usage: RoleUsage = field(default_factory=RoleUsage)

    @property
    def campaign(self) -> str:
        return self.spec.name

    def evaluate(self, ids: list[str], generation: int) -> None:
        rows = []
        for genome_id in ids:
            genome = self.genomes[genome_id]
            evaluation = self.evaluator(genome)
            self.evaluations[genome_id] = evaluation
            self.genomes[genome_id] = genome.model_copy(
                update={"fitness_score": evaluation.score, "objectives": evaluation.objectives}
            )
            self.tokens += evaluation.tokens
            self.cost_usd += evaluation.cost_usd
            rows.append(
                HistoryRow.of(self.campaign, generation, genome_id, evaluation, time.time())
            )
        if self.out_dir is not None:
            outputs.append_history(self.out_dir, rows)

    def budget_crossed(self) -> str | None:
        budgets = self.spec.budgets
        if budgets.max_tokens is not None and self.tokens >= budgets.max_tokens:
            return f"budget exceeded: tokens ({self.tokens} >= {budgets.max_tokens})"
        if budgets.max_usd is not None and self.cost_usd >= budgets.max_usd:
            return f"budget exceeded: usd ({self.cost_usd:.4f} >= {budgets.max_usd})"
        elapsed = self.clock() - self.started
        if budgets.max_wall_s is not None and elapsed >= budgets.max_wall_s:
            return f"budget exceeded: wall time ({elapsed:.1f}s >= {budgets.max_wall_s}s)"
        return None

    def evaluations_exceeded(self, more: int) -> str | None:
        cap = self.spec.budgets.max_evaluations
        if cap is not None and len(self.evaluations) + more > cap:
            return (
                f"budget exceeded: evaluations ({len(self.evaluations)} done, "
                f"{more} more needed, cap {cap})"
            )
        return None

    def progress(self, state: EvolutionState) -> Progress:
        best = state.best
        return Progress(
            generation=state.generation,
            generations=self.spec.evolution.generations,
            best_fitness=best.fitness if best else 0.0,
            evaluations=len(self.evaluations),
            tokens=self.tokens,
            cost_usd=self.cost_usd,
            elapsed_s=self.clock() - self.started,
        )


def _lineage(run: _Run, results: list[BreedResult]) -> list[LineageSample]:
    samples = []
    for result in sorted(results, key=lambda r: r.slot):
        if result.genome is None:
            continue
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


def _attempts(run: _Run, parent: str, generation: int) -> tuple[Attempt, ...]:
    scores = {i: e.score for i, e in run.evaluations.items()}
    return attempts_of(parent, run.genomes.values(), generation, scores)


def _generation(run: _Run, state: EvolutionState) -> tuple[EvolutionState | None, str | None]:
    """Run one generation; ``(None, reason)`` if a budget forbids starting it."""
    started = run.clock()
    known_before = [g.pipeline for g in run.genomes.values()]
    tasks = plan_generation(state, run.spec)
    results: list[BreedResult] = []
    for task in tasks:
        parents = [run.genomes[i] for i in task.parents]
        donors = [run.genomes[i] for i in task.donors]
        runtime = run.proposer.metered() if run.proposer is not None else None
        context = breed_context(
            task,
            run.spec,
            donors,
            material=run.material,
            evidence=evidence_for(task, run.evaluations, run.examples),
            proposer=runtime,
            attempts=_attempts(run, task.parents[0], task.generation) if runtime else (),
        )
        offspring = make_offspring(task, parents, context)
        result = offspring.result
        if runtime is not None and not runtime.usage.empty:
            # The proposer's billed usage counts like an evaluation's, as the farm counts it.
            usage = runtime.usage
            result = result.model_copy(update={"usage": usage})
            run.proposer_usage = run.proposer_usage + usage
            run.tokens += usage.tokens
            run.cost_usd += usage.cost_usd
        results.append(result)
        if offspring.genome is not None:
            # The first slot to breed a pipeline owns its record (lineage, mutations).
            run.genomes.setdefault(offspring.genome.id, offspring.genome)
    new_ids = to_evaluate(results, run.evaluations)
    stop = run.evaluations_exceeded(len(new_ids))
    if stop is not None:
        return None, stop
    run.evaluate(new_ids, state.generation + 1)
    offspring_genomes = {i: run.genomes[i] for i in {r.genome for r in results if r.genome}}
    next_state = select(state, results, offspring_genomes, run.evaluations, run.spec)
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
            {
                "campaign": run.campaign,
                "generation": next_state.generation,
                "best": next_state.best.id if next_state.best else None,
                "best_fitness": next_state.best_history[-1],
                "evaluations": len(run.evaluations),
                "metrics": metrics.model_dump(mode="json"),
                "operators": {name: s.report() for name, s in next_state.operator_stats.items()},
            },
        )
    return next_state, None


def _target_reached(spec: CampaignSpec, state: EvolutionState) -> bool:
    target = spec.evolution.target_fitness
    return target is not None and state.best is not None and state.best.fitness >= target


def run_in_process(
    spec: CampaignSpec,
    *,
    seed: int | None = None,
    out_dir: Path | None = None,
    progress: ProgressFn | None = None,
    evaluator: Evaluator | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CampaignResult:
    """Run a whole campaign in this process and (optionally) write its outputs.

    Args:
        spec: The campaign.
        seed: Overrides ``spec.evolution.seed``.
        out_dir: Where to write summary.json, best.yaml and the histories.
        progress: Called after the seeds and after every generation.
        evaluator: Evaluates one genome; by default the campaign's suite is run
            in-process with the campaign's providers and limits.
        clock: Monotonic clock (seconds), for the wall-time budget.

    Raises:
        UserInputError: a seed pipeline or the suite file is invalid.
    """
    seed = spec.evolution.seed if seed is None else seed
    suite = spec.load_suite()
    seeds, genesis_usage = seeds_and_usage(spec, suite)
    examples = examples_of(suite)
    run = _Run(
        spec=spec,
        seed=seed,
        evaluator=evaluator or make_evaluator(spec, suite),
        out_dir=out_dir,
        clock=clock,
        started=clock(),
        examples=examples,
        proposer=CampaignProposer.for_campaign(spec),
        proposer_usage=genesis_usage,
        tokens=genesis_usage.tokens,
        cost_usd=genesis_usage.cost_usd,
    )
    if out_dir is not None:
        outputs.reset(out_dir)
    status: Status = "completed"
    reason = f"ran {spec.evolution.generations} generations"
    state: EvolutionState | None = None
    first = initial_genomes(seeds)
    run.material = material_of(examples, [g.pipeline for g in first])
    run.genomes.update({g.id: g for g in first})
    stop = run.evaluations_exceeded(len(first))
    if stop is not None:
        status, reason = "stopped", stop
    else:
        run.evaluate([g.id for g in first], 0)
        state = seed_state(spec, spec.name, seed, list(run.genomes.values()), run.evaluations)
        if progress:
            progress(run.progress(state))
    while state is not None and status == "completed":
        if _target_reached(spec, state):
            reason = f"target fitness {spec.evolution.target_fitness} reached"
            break
        if state.generation >= spec.evolution.generations:
            break
        crossed = run.budget_crossed()
        if crossed is not None:
            status, reason = "stopped", crossed
            break
        next_state, stop = _generation(run, state)
        if next_state is None:
            status, reason = "stopped", stop or "stopped"
            break
        state = next_state
        if progress:
            progress(run.progress(state))
    return _finish(run, state, status, reason)


def _finish(run: _Run, state: EvolutionState | None, status: Status, reason: str) -> CampaignResult:
    best_member = state.best if state else None
    best = run.genomes[best_member.id] if best_member else None
    summary = Summary(
        campaign=run.campaign,
        status=status,
        reason=reason,
        seed=run.seed,
        generations=state.generation if state else 0,
        evaluations=len(run.evaluations),
        best=BestRef(
            genome=best_member.id if best_member else None,
            fitness=best_member.fitness if best_member else None,
        ),
        tokens=run.tokens,
        cost_usd=round(run.cost_usd, 6),
        wall_s=round(run.clock() - run.started, 3),
        approval=run.spec.approval.decide(best_member.fitness if best_member else None),
        usage_by_role=usage_by_role(run.tokens, run.cost_usd, run.proposer_usage),
    )
    if run.out_dir is not None:
        outputs.write_summary(run.out_dir, summary)
        if best is not None:
            outputs.write_best(run.out_dir, best.to_pipeline())
    return CampaignResult(
        summary=summary, state=state, best=best, genomes=run.genomes, evaluations=run.evaluations
    )
