"""Steady state in process: one reporting generation of ``lambda`` births, each told at once."""

from __future__ import annotations

from evofarm.campaign.local.nursery import nurse_birth
from evofarm.campaign.local.rows import generation_row
from evofarm.campaign.local.run import Run, breed, target_reached
from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.engine import (
    EvolutionState,
    SteadyMemo,
)
from evofarm.evolution.selection.base import Member
from evofarm.evolution.steady import close_generation, plan_birth, tell_birth
from evofarm.evolution.steady_noise import hold_crown
from evofarm.evolution.steady_nursery import stage_verdict


def steady_generation(run: Run, state: EvolutionState) -> tuple[EvolutionState | None, str | None]:
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
        result = breed(run, plan_birth(state, run.spec, births))
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
    generation_row(run, state, new_ids, results=results, known_before=known_before, started=started)
    return state, stop


def _evaluate_birth(run: Run, state: EvolutionState, gid: str) -> tuple[EvolutionState, bool]:
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
    run: Run, state: EvolutionState, *, elites: bool = False
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
    return state.generation >= spec.evolution.generations or target_reached(spec, state)
