"""Noise-aware acceptance in steady state: resample a would-be champion before crowning it.

Generational mode settles once per generation
(:mod:`~evofarm.evolution.noise_settle`). Steady state tells one child at a
time, so acceptance is decided as the children come:

1. Every tell keeps the crowned genome at the head of the archive
   (:func:`hold_crown`): a child scoring above the champion on its one sample
   joins the population and the archive but is not the campaign's best yet.
2. :func:`wanted_samples` then names the resamples due: when the archive's
   leader (by the mean over its samples) is not the champion and has fewer
   than ``samples``, the leader and the champion get ``samples`` each (as a
   generation's challenger does); at each reporting generation (every
   ``lambda`` births) the population's ``elites`` best also get one more.
3. The caller draws them (on the farm, resample tasks that occupy slots like
   births), then :func:`settle_samples` re-ranks by means and crowns by the
   configured test with :func:`~evofarm.evolution.noise_settle.crown`: the
   challenger's first sample, the one that made it lead, is not evidence.
   One job at a time (:func:`next_job`): a challenger's before the elites'.

In process, a birth's job (and any it leads to) is drawn before the next
birth; a reporting generation closes after its last birth's, then the elites'
job runs. The farm does the same when nothing else is in flight (one slot),
and otherwise writes a generation's checkpoint while a job is out.

The counts and the champion are in the checkpoint (``EvolutionState.noise``);
on the farm so are the job out and whether the elites are due
(:class:`~evofarm.evolution.noise.NoiseMemo`), for a restarted scheduler.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from evofarm.evolution.config import EvolutionConfig
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.genome import Genome
from evofarm.evolution.noise import NoiseConfig, NoiseMemo
from evofarm.evolution.noise_settle import crown, targets
from evofarm.evolution.selection.base import by_fitness
from evofarm.fitness.records import Evaluation
from evofarm.fitness.scoring import FitnessConfig

__all__ = ["hold_crown", "next_job", "settle_samples", "wanted_samples"]


def hold_crown(before: EvolutionState, after: EvolutionState, archive_size: int) -> EvolutionState:
    """``after`` (``before`` with one birth told) with ``before``'s champion back at the head.

    Identity when there is no champion yet or it still leads.
    """
    champion = before.noise.champion if before.noise else None
    if champion is None or (after.archive and after.archive[0].id == champion):
        return after
    crowned = next((m for m in before.archive if m.id == champion), None)
    if crowned is None:
        return after
    rest = [m for m in after.archive if m.id != champion]
    return after.model_copy(update={"archive": [crowned, *rest][: max(1, archive_size)]})


def wanted_samples(state: EvolutionState, config: NoiseConfig, *, elites: bool) -> dict[str, int]:
    """Genome id -> samples it must have, for those that lack some (empty: none due).

    Args:
        state: The current state (its ``noise`` memo set once the seeds settled).
        config: The campaign's ``evolution.noise``.
        elites: Whether the population's elites are due one more sample (once
            per reporting generation).
    """
    memo = state.noise or NoiseMemo()
    steps: list[tuple[str, int]] = []
    if elites:
        for member in sorted(state.population, key=by_fitness)[: config.elites]:
            steps.append((member.id, min(memo.count(member.id) + 1, config.samples)))
    if state.archive:
        leader = min(state.archive, key=by_fitness).id
        if leader != memo.champion and memo.count(leader) < config.samples:
            steps.append((leader, config.samples))
            if memo.champion is not None:
                steps.append((memo.champion, config.samples))
    return {g: n for g, n in targets(steps, memo).items() if n > memo.count(g)}


def next_job(
    state: EvolutionState, config: NoiseConfig, *, elites_due: bool
) -> tuple[dict[str, int], bool]:
    """The next resample job and whether the elites are still due after it.

    A challenger's job comes first; the elites' (when due) once none is left.
    """
    wanted = wanted_samples(state, config, elites=False)
    if wanted or not elites_due:
        return wanted, elites_due
    return wanted_samples(state, config, elites=True), False


def settle_samples(
    state: EvolutionState,
    samples: Mapping[str, Sequence[Evaluation]],
    genomes: Mapping[str, Genome],
    wanted: Mapping[str, int],
    *,
    config: NoiseConfig,
    evolution: EvolutionConfig,
    fitness: FitnessConfig,
) -> EvolutionState:
    """``state`` re-ranked by means and crowned by test, once ``wanted`` samples are drawn.

    Args:
        state: The current state.
        samples: Every sample, oldest first, of the genomes of ``wanted`` and of
            the champion (others keep their record).
        genomes: At least those genomes.
        wanted: What :func:`wanted_samples` asked for (now drawn).
        config, evolution, fitness: The campaign's.

    Returns:
        The state with its ``noise`` memo counting the new samples. Its
        ``best_history`` is unchanged: a steady generation records its best when
        it closes.
    """
    memo = state.noise or NoiseMemo()
    counts = {**memo.samples, **{g: max(n, memo.count(g)) for g, n in wanted.items()}}
    settled = crown(
        state,
        samples,
        genomes,
        champion=memo.champion,
        counts=counts,
        config=config,
        evolution=evolution,
        fitness=fitness,
    )
    return settled.model_copy(update={"best_history": state.best_history})
