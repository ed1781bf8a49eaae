"""``evofarm evolve``: the agent workflow on one pipeline file.

Judge the file; by the band of its fitness log only (``log_only``) or ask the
proposer (:func:`~evofarm.agent.propose.propose`) with the band's instruction;
write the candidate beside the file (``PIPELINE.candidate``), judge it, and
keep it only if its fitness is higher and it passes the workflow's required
gates: the file is then replaced (atomically) and the previous version kept as
``PIPELINE.bakN`` (the next free N). A candidate that is not better is removed
(reverted) and the next attempt uses the next strategy not yet tried on this
version (``tune_lightly`` -> ``rewrite`` -> ``redesign``), with the earlier
attempts named to the proposer so it does not repeat them.

Stops at ``log_only``, after ``min(attempts, max_iterations)`` attempts, or
before an attempt once the workflow's token or time budget is spent (tokens of
judging and proposing both count). Every judgement appends one row to the
history (:mod:`evofarm.agent.history`).

Not thread-safe on one file: two ``evolve`` runs on the same pipeline race on
its candidate and backups.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evofarm.agent.history import EvolveRow, append_rows
from evofarm.agent.propose import ProposalUsage, propose
from evofarm.agent.workflows import (
    STRATEGIES,
    AgentConfig,
    WorkflowType,
    failed_gates,
)
from evofarm.errors import Location, UserInputError
from evofarm.evolution.examples import examples_of
from evofarm.evolution.proposals import evidence_of
from evofarm.fitness.records import Evaluation
from evofarm.fitness.runner import evaluate_pipeline, per_case_runtimes
from evofarm.fitness.scoring import Band, FitnessConfig
from evofarm.fitness.suite import TaskSuite
from evofarm.pipeline.loader import dump_pipeline, load_pipeline, pipeline_to_data
from evofarm.pipeline.runtime import Runtime
from evofarm.pipeline.schema import Pipeline
from evofarm.providers.base import Provider, ProviderSlots

Judge = Callable[[Path], Evaluation]
"""Scores the pipeline file at a path (the candidate or the current file)."""

CANDIDATE_SUFFIX = ".candidate"


def file_judge(suite: TaskSuite, providers: ProviderSlots, workspace: Path) -> Judge:
    """A judge running each case in this process, in its own folder below ``workspace``."""

    def judge(path: Path) -> Evaluation:
        base = Runtime(providers=providers, workspace=workspace, base_dir=path.resolve().parent)
        factory = per_case_runtimes(base)
        return evaluate_pipeline(load_pipeline(path), suite, runtime_factory=factory)

    return judge


@dataclass(frozen=True)
class Attempt:
    """One proposal attempt: its strategy, the candidate's fitness (None: no candidate)."""

    strategy: Band
    fitness: float | None
    kept: bool
    note: str


@dataclass
class EvolveResult:
    """What one ``evolve`` run did."""

    initial: float
    final: float
    band: Band
    stop: str
    attempts: list[Attempt] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    tokens: int = 0
    discarded: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EvolveOptions:
    """How to evolve: proposer, workflow type, attempts, scope and history file."""

    proposer: str | Provider = "mock"
    model: str = "haiku"
    workflow: WorkflowType = "feature"
    attempts: int = 3
    step: str | None = None
    history: Path | None = None
    config: AgentConfig = field(default_factory=AgentConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)


def next_backup(path: Path) -> Path:
    """``PATH.bakN`` for the smallest N >= 1 not taken."""
    n = 1
    while (candidate := path.with_name(f"{path.name}.bak{n}")).exists():
        n += 1
    return candidate


def _next_strategy(band: Band, tried: list[Band]) -> Band:
    """The band's strategy, else the next harsher one not tried, else any untried one."""
    start = STRATEGIES.index(band) if band in STRATEGIES else 0
    order = STRATEGIES[start:] + STRATEGIES[:start]
    return next((s for s in order if s not in tried), order[0])


def _changed_steps(before: Pipeline, after: Pipeline) -> list[str]:
    old = {s["name"]: s for s in pipeline_to_data(before).get("steps", [])}
    new = {s["name"]: s for s in pipeline_to_data(after).get("steps", [])}
    return sorted(n for n in old.keys() | new.keys() if old.get(n) != new.get(n))


def _band(evaluation: Evaluation, fitness: FitnessConfig) -> Band:
    return evaluation.band or fitness.thresholds.band(evaluation.score)


class _Run:
    """The state of one ``evolve`` run (see :func:`evolve`)."""

    def __init__(self, path: Path, suite: TaskSuite, judge: Judge, options: EvolveOptions) -> None:
        self.path, self.judge, self.options = path, judge, options
        self.budget = options.config.budget(options.workflow)
        self.current = load_pipeline(path)
        if options.step is not None and options.step not in {s.name for s in self.current.steps}:
            raise UserInputError(f"no step named {options.step!r}", Location(file=str(path)))
        self.name = self.current.name or path.stem
        self.started = time.monotonic()
        self.examples = examples_of(suite)
        self.usage = ProposalUsage()
        self.tried: list[Band] = []
        self.earlier: list[str] = []
        self.candidate_path = path.with_name(path.name + CANDIDATE_SUFFIX)
        self.evaluation = judge(path)
        self.band = _band(self.evaluation, options.fitness)
        self.record(self.evaluation, "judge", True, self.evaluation.tokens)
        self.result = EvolveResult(
            initial=self.evaluation.score, final=self.evaluation.score, band=self.band,
            stop="attempts", tokens=self.evaluation.tokens,
        )  # fmt: skip

    def record(self, evaluation: Evaluation, action: str, kept: bool, tokens: int) -> None:
        if self.options.history is None:
            return
        row = EvolveRow.of(
            evaluation, ts=time.time(), pipeline=self.name, step=self.options.step,
            action=action, kept=kept, tokens=tokens,
        )  # fmt: skip
        append_rows(self.options.history, [row])

    def stop_reason(self) -> str | None:
        """Why no further attempt may start, or None."""
        if self.band == "log_only":
            return "log_only"
        if self.result.tokens >= self.budget.token_budget:
            return "token_budget"
        if time.monotonic() - self.started >= self.budget.time_budget_s:
            return "time_budget"
        return None

    def attempt(self, number: int) -> None:
        """Propose, judge and keep or revert one candidate."""
        strategy = _next_strategy(self.band, self.tried)
        self.tried.append(strategy)
        before = self.usage.tokens
        proposal = propose(
            self.current,
            evidence_of(self.evaluation, self.examples),
            self.options.config.instruction(strategy),
            self.options.proposer,
            self.options.model,
            step=self.options.step,
            earlier=self.earlier,
            attempt=number,
            usage=self.usage,
        )
        spent = self.usage.tokens - before
        self.result.tokens += spent
        if proposal is None:
            self.result.attempts.append(Attempt(strategy, None, False, "no usable proposal"))
            self.earlier.append(f"{strategy}: the answer held no usable pipeline")
            return
        self.candidate_path.write_text(dump_pipeline(proposal), encoding="utf-8")
        try:
            candidate = self.judge(self.candidate_path)
        except BaseException:
            self.candidate_path.unlink(missing_ok=True)
            raise
        self.result.tokens += candidate.tokens
        failed = failed_gates(self.budget.required_gates, self.evaluation, candidate)
        keep = candidate.score > self.evaluation.score and not failed
        self.record(candidate, strategy, keep, candidate.tokens + spent)
        if keep:
            self.keep(proposal, candidate)
            note = f"kept: fitness {self.result.final:.4f} -> {candidate.score:.4f}"
        else:
            self.candidate_path.unlink(missing_ok=True)
            why = f"gates failed: {', '.join(failed)}" if failed else "fitness did not rise"
            note = f"reverted ({why}): {candidate.score:.4f} vs {self.evaluation.score:.4f}"
            changed = ", ".join(_changed_steps(self.current, proposal)) or "nothing"
            self.earlier.append(
                f"{strategy}: changed {changed}; fitness {candidate.score:.4f}, {why}"
            )
        self.result.final = self.evaluation.score
        self.result.attempts.append(Attempt(strategy, candidate.score, keep, note))

    def keep(self, proposal: Pipeline, candidate: Evaluation) -> None:
        """The candidate becomes the file; the old file becomes the next backup."""
        backup = next_backup(self.path)
        shutil.copy2(self.path, backup)
        os.replace(self.candidate_path, self.path)
        self.result.backups.append(backup)
        self.current, self.evaluation = proposal, candidate
        self.band = _band(candidate, self.options.fitness)
        self.tried, self.earlier = [], []


def evolve(path: Path, suite: TaskSuite, judge: Judge, options: EvolveOptions) -> EvolveResult:
    """Run the agent workflow on the pipeline file at ``path`` (see module docs).

    Raises:
        UserInputError: the file does not load, or ``options.step`` names no step.
        ProviderError: the proposer failed past its retries (the file is left
            as it was at the last kept version; no candidate is left behind).
    """
    run = _Run(path, suite, judge, options)
    for number in range(min(options.attempts, run.budget.max_iterations)):
        stop = run.stop_reason()
        if stop is not None:
            run.result.stop = stop
            break
        run.attempt(number)
    else:
        if run.band == "log_only":
            run.result.stop = "log_only"
    run.result.final = run.evaluation.score
    run.result.band = run.band
    run.result.discarded = dict(run.usage.discarded)
    return run.result
