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
from collections.abc import Callable
from pathlib import Path

from evofarm.campaign import memory
from evofarm.campaign.genesis import seed_pipelines
from evofarm.campaign.local.evaluator import (
    Evaluator,
    SampledEvaluator,
    StagedEvaluator,
    make_evaluator,
    make_staged_evaluator,
)
from evofarm.campaign.local.noise import NoisyAcceptance, Sampler
from evofarm.campaign.local.rows import generation_row, seed_row
from evofarm.campaign.local.run import (
    CampaignResult,
    Progress,
    ProgressFn,
    Run,
    breed,
    target_reached,
)
from evofarm.campaign.local.steady import steady_generation
from evofarm.campaign.proposer import CampaignProposer
from evofarm.campaign.provider_stack import ledger_limits, new_process_ledger
from evofarm.campaign.reports import final, outputs
from evofarm.campaign.reports.outputs import BestRef, Status, Summary
from evofarm.campaign.reports.usage import cache_hits, role_breakdown
from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.engine import (
    EvolutionState,
    initial_genomes,
    plan_generation,
    seed_state,
    select,
    to_evaluate,
)
from evofarm.evolution.errors import EngineInputError
from evofarm.evolution.examples import examples_of
from evofarm.evolution.final_choice import FinalChoice, choose_final
from evofarm.evolution.material import material_of
from evofarm.store.collective import CollectiveMemory

__all__ = ["CampaignResult", "Progress", "ProgressFn", "run_in_process"]


def _generation(run: Run, state: EvolutionState) -> tuple[EvolutionState | None, str | None]:
    """Run one generation; ``(None, reason)`` if a budget forbids starting it."""
    started = run.clock()
    known_before = [g.pipeline for g in run.genomes.values()]
    tasks = plan_generation(state, run.spec)
    results = [breed(run, task) for task in tasks]
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
    generation_row(
        run, next_state, reported, results=results, known_before=known_before, started=started
    )
    return next_state, None


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
    run = Run(
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
            seed_row(run, state, [g.pipeline for g in run.genomes.values()])
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
    run: Run,
    state: EvolutionState,
    reason: str,
    progress: ProgressFn | None,
) -> tuple[EvolutionState, Status, str]:
    """Run generations from ``state`` until the target, the generation cap or a stop."""
    spec = run.spec
    while True:
        if target_reached(spec, state):
            return state, "completed", f"target fitness {spec.evolution.target_fitness} reached"
        if state.generation >= spec.evolution.generations:
            return state, "completed", reason
        crossed = run.budget_crossed()
        if crossed is not None:
            return state, "stopped", crossed
        step = steady_generation if spec.evolution.mode == "steady" else _generation
        next_state, stop = step(run, state)
        if next_state is None or stop is not None:
            # A steady generation the cap cut short still counts what it told.
            return next_state or state, "stopped", stop or "stopped"
        state, before = next_state, state
        run.check_anomalies(state, before)
        if progress:
            progress(run.progress(state))


def _final_phase(run: Run, state: EvolutionState) -> FinalChoice | None:
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


def _finish(run: Run, state: EvolutionState | None, status: Status, reason: str) -> CampaignResult:
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
