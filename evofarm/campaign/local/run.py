"""One in-process campaign's working state: its genomes, evaluations, usage and budgets.

:class:`Run` is what :func:`~evofarm.campaign.local.loop.run_in_process` and its
generations (:mod:`~evofarm.campaign.local.loop`, :mod:`~evofarm.campaign.local.steady`)
share: it evaluates (through the nursery when there is one), records history
rows, charges the ledger, checks budgets and the per-generation anomalies;
:func:`breed` makes one task's child as a worker would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evofarm.campaign.anomalies import LIVE_KINDS, HistoryDigest, detect, signals_of
from evofarm.campaign.local.evaluator import Evaluator, StagedEvaluator
from evofarm.campaign.local.noise import NoisyAcceptance
from evofarm.campaign.local.nursery import run_nursery
from evofarm.campaign.proposer import CampaignProposer
from evofarm.campaign.reports import outputs
from evofarm.campaign.reports.outputs import HistoryRow, Summary
from evofarm.campaign.spec import CampaignSpec
from evofarm.errors import BudgetExceeded
from evofarm.evolution.engine import (
    BreedResult,
    BreedTask,
    EvolutionState,
    breed_context,
    evidence_for,
    make_offspring,
)
from evofarm.evolution.examples import Example
from evofarm.evolution.final_choice import SplitName
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.attempts import attempts_of
from evofarm.evolution.llm.runtime import Attempt
from evofarm.evolution.material import Material
from evofarm.fitness.records import Evaluation, invalid_evaluation
from evofarm.providers.ledger import BudgetLedger


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
class Run:
    """The working state of one :func:`~evofarm.campaign.local.loop.run_in_process` call."""

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
    history: HistoryDigest = field(default_factory=HistoryDigest)
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


def target_reached(spec: CampaignSpec, state: EvolutionState) -> bool:
    """Whether ``state``'s best reaches ``evolution.target_fitness``."""
    target = spec.evolution.target_fitness
    return target is not None and state.best is not None and state.best.fitness >= target


def _attempts(run: Run, parent: str, generation: int) -> tuple[Attempt, ...]:
    scores = {i: e.score for i, e in run.evaluations.items()}
    return attempts_of(parent, run.genomes.values(), generation, scores)


def breed(run: Run, task: BreedTask) -> BreedResult:
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
