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

Selection sees only the suite's training cases (``suite.training()``). When
the search ends (completed, or stopped by a budget), the final phase
(:mod:`evofarm.evolution.final_choice`) chooses the winner on the held-out
cases and simplifies it, with the same evaluators; its evaluations are extra
to ``max_evaluations`` (at most ``FINALISTS + 2``) and are counted in the
summary's ``evaluations``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evofarm.campaign import memory
from evofarm.campaign.anomalies import LIVE_KINDS, detect, signals_of
from evofarm.campaign.genesis import seed_pipelines
from evofarm.campaign.local.evaluator import (
    Evaluator,
    SampledEvaluator,
    StagedEvaluator,
    make_evaluator,
    make_staged_evaluator,
)
from evofarm.campaign.local.noise import NoisyAcceptance, Sampler
from evofarm.campaign.local.nursery import nurse_birth, run_nursery
from evofarm.campaign.proposer import CampaignProposer
from evofarm.campaign.provider_stack import ledger_limits, new_process_ledger
from evofarm.campaign.reports import final, outputs
from evofarm.campaign.reports.outputs import BestRef, HistoryRow, Status, Summary
from evofarm.campaign.reports.usage import cache_hits, role_breakdown
from evofarm.campaign.spec import CampaignSpec
from evofarm.errors import BudgetExceeded
from evofarm.evolution.engine import (
    BreedResult,
    BreedTask,
    EvolutionState,
    SteadyMemo,
    breed_context,
    evidence_for,
    initial_genomes,
    make_offspring,
    plan_generation,
    seed_state,
    select,
    to_evaluate,
)
from evofarm.evolution.errors import EngineInputError
from evofarm.evolution.examples import Example, examples_of
from evofarm.evolution.final_choice import FinalChoice, SplitName, choose_final
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.attempts import attempts_of
from evofarm.evolution.llm.runtime import Attempt
from evofarm.evolution.material import Material, material_of
from evofarm.evolution.selection.base import Member
from evofarm.evolution.steady import close_generation, plan_birth, tell_birth
from evofarm.evolution.steady_noise import hold_crown
from evofarm.evolution.steady_nursery import stage_verdict
from evofarm.fitness.metrics import LineageSample, generation_metrics, signatures
from evofarm.fitness.records import Evaluation, invalid_evaluation
from evofarm.providers.ledger import BudgetLedger
from evofarm.store.collective import CollectiveMemory


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
    case_runs: int = 0
    """Cases actually run, partial (nursery) evaluations included."""
    anomalies: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Run:
    spec: CampaignSpec
    seed: int
    evaluator: Evaluator
    validation_evaluator: Evaluator | None
    out_dir: Path | None
    clock: Callable[[], float]
    started: float
    # The campaign's budget ledger: every call of the proposer (genesis included),
    # judges and the default evaluator's candidates is charged to it as it is made.
    ledger: BudgetLedger
    genomes: dict[str, Genome] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    # False: a custom evaluator, whose reported usage is added to the ledger's.
    metered: bool = True
    tokens: int = 0
    cost_usd: float = 0.0
    reported_tokens: int = 0
    reported_cost_usd: float = 0.0
    refused: str | None = None
    examples: list[Example] = field(default_factory=list)
    material: Material = field(default_factory=Material)
    #: Evaluations on the held-out cases (the final phase's; never seen by selection).
    validation_evaluations: int = 0
    staged: StagedEvaluator | None = None
    partials: dict[str, Evaluation] = field(default_factory=dict)
    case_runs: int = 0
    noise: NoisyAcceptance | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    proposer: CampaignProposer | None = None

    @property
    def campaign(self) -> str:
        return self.spec.name

    def evaluate(self, ids: list[str], generation: int) -> None:
        done = {}
        for genome_id in ids:
            done[genome_id] = self._evaluate_one(self.genomes[genome_id])
            self.case_runs += len(done[genome_id].cases)
        self.record(done, generation)

    def nurse(self, ids: list[str], generation: int) -> list[str]:
        """Evaluate ``ids`` through the nursery; return the culled ids."""
        nursery = self.spec.evolution.nursery
        assert nursery is not None and self.staged is not None  # checked by the caller
        outcome = run_nursery(
            ids,
            self.genomes,
            nursery,
            full_fidelity=self.spec.fidelity,
            fitness=self.spec.fitness,
            evaluate=self.staged,
            partials=self.partials,
        )
        self.case_runs += outcome.case_runs
        self.record(outcome.full, generation)
        return outcome.culled

    def record(self, done: dict[str, Evaluation], generation: int) -> None:
        rows = []
        for genome_id, evaluation in done.items():
            genome = self.genomes[genome_id]
            self.evaluations[genome_id] = evaluation
            if self.noise is not None:
                self.noise.record(genome_id, evaluation)
            self.genomes[genome_id] = genome.model_copy(
                update={"fitness_score": evaluation.score, "objectives": evaluation.objectives}
            )
            self.charge(evaluation)
            rows.append(
                HistoryRow.of(self.campaign, generation, genome_id, evaluation, time.time())
            )
        self.history.extend(r.model_dump(mode="json") for r in rows)
        if self.out_dir is not None:
            outputs.append_history(self.out_dir, rows)

    def evaluate_final(self, genomes: Sequence[Genome], split: SplitName) -> dict[str, Evaluation]:
        """The final phase's evaluator: training through the loop's, validation held out."""
        evaluator = self.evaluator if split == "train" else self.validation_evaluator
        assert evaluator is not None, "validation asked for a suite without held-out cases"
        found: dict[str, Evaluation] = {}
        for genome in genomes:
            if split == "train" and genome.id in self.evaluations:
                found[genome.id] = self.evaluations[genome.id]
                continue
            evaluation = evaluator(genome)
            self.case_runs += len(evaluation.cases)
            found[genome.id] = evaluation
            if split == "train":
                # A training evaluation is one like any other (the simplified winner's).
                self.genomes.setdefault(genome.id, genome)
                self.evaluations[genome.id] = evaluation
            else:
                self.validation_evaluations += 1
            self.charge(evaluation)
        return found

    def charge(self, evaluation: Evaluation | None = None) -> None:
        """Bring the run's usage up to date: the ledger's totals (the trusted count),
        plus what ``evaluation`` reports when a custom evaluator made it."""
        if evaluation is not None and not self.metered:
            self.reported_tokens += evaluation.tokens
            self.reported_cost_usd += evaluation.cost_usd
        total = self.ledger.totals().total
        self.tokens = total.tokens + self.reported_tokens
        self.cost_usd = total.cost_usd + self.reported_cost_usd

    def check_anomalies(self, state: EvolutionState, before: EvolutionState | None) -> None:
        """The per-generation anomaly hook (the scheduler's twin): detect, keep, write."""
        found = [
            a.to_json()
            for a in detect(
                signals_of(self.history, state, before, lambda g: self.genomes[g].pipeline["steps"])
            )
            if a.kind not in LIVE_KINDS
        ]
        self.anomalies.extend(found)
        if self.out_dir is not None and found:
            outputs.append_anomalies(self.out_dir, found)

    def _evaluate_one(self, genome: Genome) -> Evaluation:
        """Evaluate; a call the ledger refused scores the genome 0 and stops the run."""
        if self.refused is None:
            try:
                return self.evaluator(genome)
            except BudgetExceeded as exc:
                self.refused = str(exc)
        return invalid_evaluation(
            suite_id=self.spec.suite,
            fidelity=self.spec.fidelity,
            reason=self.refused,
            genome_id=genome.id,
            outcome="budget",
        )

    def budget_crossed(self) -> str | None:
        if self.refused is not None:
            return self.refused
        crossed = self.ledger.crossed()
        if crossed is not None:
            return f"budget exceeded: {crossed} (a call's worst case would have crossed it)"
        budgets = self.spec.budgets
        if budgets.max_tokens is not None and self.tokens >= budgets.max_tokens:
            return f"budget exceeded: tokens ({self.tokens} >= {budgets.max_tokens})"
        if budgets.max_usd is not None and self.cost_usd >= budgets.max_usd:
            return f"budget exceeded: usd ({self.cost_usd:.4f} >= {budgets.max_usd})"
        elapsed = self.clock() - self.started
        if budgets.max_wall_s is not None and elapsed >= budgets.max_wall_s:
            return f"budget exceeded: wall time ({elapsed:.1f}s >= {budgets.max_wall_s}s)"
        return None

    def settle(self, state: EvolutionState) -> EvolutionState:
        """Noise-aware acceptance after a generation (identity without ``evolution.noise``)."""
        if self.noise is None:
            return state
        before = self.noise.case_runs
        settled = self.noise.settle(state, self.genomes, self.spec.evolution, self.spec.fitness)
        self.case_runs += self.noise.case_runs - before
        for gid in self.noise.samples:
            self.evaluations[gid] = self.noise.mean(gid)
        return settled

    @property
    def evaluation_count(self) -> int:
        """Evaluations run so far: one per genome plus every resample (as the farm counts)."""
        return len(self.evaluations) + (self.noise.resamples if self.noise is not None else 0)

    def evaluations_exceeded(self, more: int) -> str | None:
        cap = self.spec.budgets.max_evaluations
        done = self.evaluation_count
        if cap is not None and done + more > cap:
            return f"budget exceeded: evaluations ({done} done, {more} more needed, cap {cap})"
        return None

    def progress(self, state: EvolutionState) -> Progress:
        best = state.best
        return Progress(
            generation=state.generation,
            generations=self.spec.evolution.generations,
            best_fitness=best.fitness if best else 0.0,
            evaluations=self.evaluation_count,
            tokens=self.tokens,
            cost_usd=self.cost_usd,
            elapsed_s=self.clock() - self.started,
        )


def _lineage(run: _Run, results: list[BreedResult]) -> list[LineageSample]:
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


def _attempts(run: _Run, parent: str, generation: int) -> tuple[Attempt, ...]:
    scores = {i: e.score for i, e in run.evaluations.items()}
    return attempts_of(parent, run.genomes.values(), generation, scores)


def _generation(run: _Run, state: EvolutionState) -> tuple[EvolutionState | None, str | None]:
    """Run one generation; ``(None, reason)`` if a budget forbids starting it."""
    started = run.clock()
    known_before = [g.pipeline for g in run.genomes.values()]
    tasks = plan_generation(state, run.spec)
    results = [_breed(run, task) for task in tasks]
    new_ids = to_evaluate(results, run.evaluations)
    stop = run.evaluations_exceeded(len(new_ids))
    if stop is not None:
        return None, stop
    culled: list[str] = []
    if run.spec.evolution.nursery is not None:
        culled = run.nurse(new_ids, state.generation + 1)
    else:
        run.evaluate(new_ids, state.generation + 1)
    offspring_genomes = {i: run.genomes[i] for i in {r.genome for r in results if r.genome}}
    next_state = run.settle(
        select(state, results, offspring_genomes, run.evaluations, run.spec, culled=culled)
    )
    # Culled children have no full evaluation: like the farm's, the row leaves them out.
    reported = [g for g in new_ids if g not in set(culled)]
    _generation_row(
        run, next_state, reported, results=results, known_before=known_before, started=started
    )
    return next_state, None


def _steady_generation(
    run: _Run, state: EvolutionState
) -> tuple[EvolutionState | None, str | None]:
    """One reporting generation of steady state: ``lambda`` births, each told at once.

    In process, evaluations complete in birth order, so this is reproducible;
    the farm's completion order is timing's (:mod:`~evofarm.evolution.steady`).
    A birth the evaluation cap forbids ends the generation early, with the cap's reason.
    With ``evolution.nursery`` a birth goes through the stages first
    (:mod:`~evofarm.evolution.steady_nursery`); with ``evolution.noise`` the
    resamples due after each tell, and the elites' when the generation closes,
    are drawn before the next birth (:mod:`~evofarm.evolution.steady_noise`).
    """
    started = run.clock()
    known_before = [g.pipeline for g in run.genomes.values()]
    memo = state.steady or SteadyMemo()
    births, results, new_ids = memo.births, [], []
    stop: str | None = None
    for _ in range(run.spec.evolution.lam):
        result = _breed(run, plan_birth(state, run.spec, births))
        gid = result.genome
        child, culled = None, False
        if gid is not None and gid not in {m.id for m in state.population}:
            if gid not in run.evaluations:
                stop = run.evaluations_exceeded(1)
                if stop is not None:
                    break
                state, culled = _evaluate_birth(run, state, gid)
                if not culled:
                    new_ids.append(gid)
            if not culled:
                child = (run.genomes[gid], run.evaluations[gid])
        births += 1
        results.append(result)
        told = tell_birth(state, result, run.spec, child, culled=culled)
        state, stop = _settle_birth(run, hold_crown(state, told, run.spec.evolution.archive_size))
        if stop is not None:
            break
    if not results:
        return None, stop
    state = close_generation(state, births, [])
    if stop is None and not _last_generation(run.spec, state):
        state, stop = _settle_birth(run, state, elites=True)
    _generation_row(
        run, state, new_ids, results=results, known_before=known_before, started=started
    )
    return state, stop


def _evaluate_birth(run: _Run, state: EvolutionState, gid: str) -> tuple[EvolutionState, bool]:
    """Evaluate a steady birth's new child (through the nursery); return the state and
    whether the nursery culled it."""
    generation = state.generation + 1
    nursery = run.spec.evolution.nursery
    if nursery is None:
        run.evaluate([gid], generation)
        return state, False
    assert run.staged is not None  # run_in_process makes it for a nursery
    steady = state.steady or SteadyMemo()

    def verdict(stage: int, member: Member) -> bool:
        nonlocal steady
        promote = nursery.stages[stage].promote
        promoted, steady = stage_verdict(steady, stage, member, promote, run.spec.evolution.lam)
        return promoted

    full, case_runs = nurse_birth(
        run.genomes[gid],
        nursery,
        full_fidelity=run.spec.fidelity,
        fitness=run.spec.fitness,
        evaluate=run.staged,
        partials=run.partials,
        verdict=verdict,
    )
    run.case_runs += case_runs
    if full is not None:
        run.record({gid: full}, generation)
    return state.model_copy(update={"steady": steady}), full is None


def _settle_birth(
    run: _Run, state: EvolutionState, *, elites: bool = False
) -> tuple[EvolutionState, str | None]:
    """Noise-aware acceptance after a steady tell (identity without ``evolution.noise``)."""
    if run.noise is None:
        return state, None
    stop: str | None = None

    def allowed(more: int) -> bool:
        nonlocal stop
        stop = run.evaluations_exceeded(more)
        return stop is None

    before = run.noise.case_runs
    spec = run.spec
    state = run.noise.settle_birth(
        state, run.genomes, spec.evolution, spec.fitness, elites=elites, allowed=allowed
    )
    run.case_runs += run.noise.case_runs - before
    for gid in run.noise.samples:
        run.evaluations[gid] = run.noise.mean(gid)
    return state, stop


def _last_generation(spec: CampaignSpec, state: EvolutionState) -> bool:
    """Whether the campaign ends at ``state`` (no elites' resample after it)."""
    return state.generation >= spec.evolution.generations or _target_reached(spec, state)


def _breed(run: _Run, task: BreedTask) -> BreedResult:
    """Make one task's child as a worker would; keep its genome (the first slot's record)."""
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
        attempts=_attempts(run, task.parents[0], task.generation)
        if runtime and task.feedback
        else (),
    )
    offspring = make_offspring(task, parents, context)
    result = offspring.result
    if runtime is not None and not runtime.usage.empty:
        # The ledger counted the calls; the result reports this task's share.
        result = result.model_copy(update={"usage": runtime.usage})
        run.charge()
    if offspring.genome is not None:
        # The first slot to breed a pipeline owns its record (lineage, mutations).
        run.genomes.setdefault(offspring.genome.id, offspring.genome)
    return result


def _generation_row(
    run: _Run,
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


def _seed_row(run: _Run, state: EvolutionState, seeds: list[dict[str, Any]]) -> None:
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
    validation_evaluator: Evaluator | None = None,
    clock: Callable[[], float] = time.monotonic,
    staged_evaluator: StagedEvaluator | None = None,
    collective: CollectiveMemory | None = None,
) -> CampaignResult:
    """Run a whole campaign in this process and (optionally) write its outputs.

    Args:
        spec: The campaign.
        seed: Overrides ``spec.evolution.seed``.
        out_dir: Where to write summary.json, best.yaml and the histories.
        progress: Called after the seeds and after every generation.
        evaluator: Evaluates one genome on the training cases; by default the
            campaign's training suite is run in-process with the campaign's
            providers and limits.
        validation_evaluator: Evaluates one genome on the held-out cases (only
            used when the suite has some); by default as ``evaluator``'s default.
        clock: Monotonic clock (seconds), for the wall-time budget.
        staged_evaluator: Evaluates at a fidelity reusing earlier case results,
            for campaigns with ``evolution.nursery``; by default the campaign's
            suite in-process (only when ``evaluator`` is not given either).
        collective: The collective memory: offered to operators when the
            campaign sets ``memory.use``; its winner and failures are mined
            into it at the end unless ``memory.contribute`` is false.

    Raises:
        UserInputError: a seed pipeline or the suite file is invalid.
        EngineInputError: the campaign has a nursery and a custom ``evaluator``
            came without a ``staged_evaluator``.
    """
    seed = spec.evolution.seed if seed is None else seed
    suite = spec.load_suite()
    training, held_out = suite.training(), suite.held_out()
    examples = examples_of(training)
    # A fresh ledger per run, before any provider set is built: they all charge it.
    ledger = new_process_ledger(spec.name, ledger_limits(spec))
    proposer = CampaignProposer.for_campaign(spec)
    seeds = seed_pipelines(spec, training, proposer)
    if held_out is not None and validation_evaluator is None:
        validation_evaluator = make_evaluator(spec, held_out)
    custom, default = evaluator, None
    if evaluator is None:
        evaluator = default = make_evaluator(spec, training)
    run = _Run(
        spec=spec,
        seed=seed,
        ledger=ledger,
        metered=custom is None,
        evaluator=evaluator,
        validation_evaluator=validation_evaluator if held_out is not None else None,
        out_dir=out_dir,
        clock=clock,
        started=clock(),
        examples=examples,
        staged=staged_evaluator,
        proposer=proposer,
    )
    run.charge()
    if spec.evolution.nursery is not None and run.staged is None:
        if custom is not None:
            raise EngineInputError("a campaign with a nursery needs a staged_evaluator too")
        run.staged = make_staged_evaluator(spec, training)
    if spec.evolution.noise is not None:
        run.noise = NoisyAcceptance(spec.evolution.noise, _sampler(custom, default))
    if out_dir is not None:
        outputs.reset(out_dir)
    status: Status = "completed"
    reason = f"ran {spec.evolution.generations} generations"
    state: EvolutionState | None = None
    first = initial_genomes(seeds)
    run.material = memory.offer(
        collective, spec, material_of(examples, [g.pipeline for g in first])
    )
    run.genomes.update({g.id: g for g in first})
    stop = run.evaluations_exceeded(len(first))
    if stop is not None:
        status, reason = "stopped", stop
    else:
        run.evaluate([g.id for g in first], 0)
        state = run.settle(
            seed_state(spec, spec.name, seed, list(run.genomes.values()), run.evaluations)
        )
        if out_dir is not None:
            _seed_row(run, state, [g.pipeline for g in run.genomes.values()])
        run.check_anomalies(state, None)
        if progress:
            progress(run.progress(state))
        state, status, reason = _evolve(run, state, reason, progress)
    result = _finish(run, state, status, reason)
    memory.contribute(collective, spec, spec.name, result.best, run.evaluations)
    return result


def _sampler(custom: Evaluator | None, default: SampledEvaluator | None) -> Sampler:
    """Draws sample ``k`` of a genome: the default evaluator passes ``k`` to the checks;
    a custom one (its own randomness) is simply called again."""
    if custom is not None:
        return lambda genome, _sample: custom(genome)
    assert default is not None  # run_in_process makes it when no evaluator is given
    return default


def _evolve(
    run: _Run,
    state: EvolutionState,
    reason: str,
    progress: ProgressFn | None,
) -> tuple[EvolutionState, Status, str]:
    """Run generations from ``state`` until the target, the generation cap or a stop."""
    spec = run.spec
    while True:
        if _target_reached(spec, state):
            return state, "completed", f"target fitness {spec.evolution.target_fitness} reached"
        if state.generation >= spec.evolution.generations:
            return state, "completed", reason
        crossed = run.budget_crossed()
        if crossed is not None:
            return state, "stopped", crossed
        step = _steady_generation if spec.evolution.mode == "steady" else _generation
        next_state, stop = step(run, state)
        if next_state is None or stop is not None:
            # A steady generation the cap cut short still counts what it told.
            return next_state or state, "stopped", stop or "stopped"
        state, before = next_state, state
        run.check_anomalies(state, before)
        if progress:
            progress(run.progress(state))


def _final_phase(run: _Run, state: EvolutionState) -> FinalChoice | None:
    recorded = {(gid, "train") for gid in run.evaluations}
    choice = choose_final(
        state,
        run.genomes,
        run.evaluations,
        run.evaluate_final,
        held_out=run.validation_evaluator is not None,
    )
    if choice is not None:
        run.genomes.setdefault(choice.winner.id, choice.winner)
        if run.out_dir is not None:
            rows = final.history_rows(run.campaign, state.generation, choice, time.time(), recorded)
            outputs.append_history(run.out_dir, rows)
    return choice


def _finish(run: _Run, state: EvolutionState | None, status: Status, reason: str) -> CampaignResult:
    best_member = state.best if state else None
    best = run.genomes[best_member.id] if best_member else None
    best_ref = BestRef(
        genome=best_member.id if best_member else None,
        fitness=best_member.fitness if best_member else None,
    )
    # The farm runs the final phase on the same endings (see the scheduler's driver).
    if state is not None and final.runs_final_phase(status, reason):
        choice = _final_phase(run, state)
        if choice is not None:
            best = choice.winner
            best_ref = final.best_ref(final.final_doc(choice))
    roles = role_breakdown(
        run.ledger.totals() if run.ledger is not None else None,
        total_tokens=run.tokens,
        total_cost_usd=run.cost_usd,
    )
    summary = Summary(
        campaign=run.campaign,
        status=status,
        reason=reason,
        seed=run.seed,
        generations=state.generation if state else 0,
        evaluations=run.evaluation_count + run.validation_evaluations,
        best=best_ref,
        tokens=run.tokens,
        cost_usd=round(run.cost_usd, 6),
        wall_s=round(run.clock() - run.started, 3),
        approval=run.spec.approval.decide(best_ref.fitness),
        case_runs=run.case_runs,
        usage_by_role=roles,
        cache_hits=cache_hits(roles),
    )
    if run.out_dir is not None:
        outputs.write_summary(run.out_dir, summary)
        if best is not None:
            outputs.write_best(run.out_dir, best.to_pipeline())
    return CampaignResult(
        summary=summary,
        state=state,
        best=best,
        genomes=run.genomes,
        evaluations=run.evaluations,
        case_runs=run.case_runs,
        anomalies=run.anomalies,
    )
