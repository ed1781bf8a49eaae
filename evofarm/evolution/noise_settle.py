"""Settling a generation under ``evolution.noise``: which samples to draw, then the crown.

Shared by the in-process loop (:mod:`evofarm.campaign.local.noise`) and the
farm's scheduler (:mod:`evofarm.campaign.scheduler.noise`), so both decide
alike from the same samples. After the seeds and after every generation:

1. :func:`sample_plan` says how many samples each genome must have: the
   population's ``elites`` best one more (up to ``samples``), the challenger
   (the archive's best, by the ranking after selection) and the champion all
   ``samples``.
2. The caller draws what is missing: sample ``k`` of a genome is its
   ``k``-th evaluation (0 is the ordinary one).
3. :func:`crown` re-ranks the population and the archive by the mean over
   samples and keeps the champion at the head of the archive unless the
   challenger passes the configured test against it, on its samples *after*
   the first (the one that made it lead is biased upwards: the winner's curse).
   ``archive[0]`` is then the crowned genome: the campaign's reported best.
   The returned checkpoint carries the champion and the sample counts
   (:class:`~evofarm.evolution.noise.NoiseMemo`).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from evofarm.evolution.config import EvolutionConfig
from evofarm.evolution.engine import EvolutionState, member_of, selection_key
from evofarm.evolution.genome import Genome
from evofarm.evolution.noise import NoiseConfig, NoiseMemo, averaged, beats
from evofarm.evolution.selection.base import Member, by_fitness
from evofarm.fitness.records import Evaluation
from evofarm.fitness.scoring import FitnessConfig


def sample_plan(
    state: EvolutionState, memo: NoiseMemo | None, config: NoiseConfig
) -> list[tuple[str, int]]:
    """``(genome id, samples it must have)`` steps, in the order to draw them.

    Args:
        state: The checkpoint just selected (or seeded), not yet settled.
        memo: The previous settled checkpoint's memo (None after the seeds).
        config: The campaign's ``evolution.noise``.

    A genome may appear twice (an elite that is also the challenger); the
    larger count wins. Counts never exceed ``config.samples``.
    """
    memo = memo or NoiseMemo()
    steps: list[tuple[str, int]] = []
    for member in sorted(state.population, key=by_fitness)[: config.elites]:
        steps.append((member.id, min(memo.count(member.id) + 1, config.samples)))
    challenger = state.archive[0].id if state.archive else None
    for gid in (challenger, memo.champion):
        if gid is not None:
            steps.append((gid, config.samples))
    return steps


def targets(steps: Sequence[tuple[str, int]], memo: NoiseMemo | None) -> dict[str, int]:
    """The samples each genome of ``steps`` has once they are drawn (never fewer than now)."""
    memo = memo or NoiseMemo()
    wanted: dict[str, int] = {}
    for gid, count in steps:
        wanted[gid] = max(wanted.get(gid, memo.count(gid)), count)
    return wanted


def crown(
    state: EvolutionState,
    samples: Mapping[str, Sequence[Evaluation]],
    genomes: Mapping[str, Genome],
    *,
    champion: str | None,
    counts: Mapping[str, int],
    config: NoiseConfig,
    evolution: EvolutionConfig,
    fitness: FitnessConfig,
) -> EvolutionState:
    """Re-rank ``state`` by means over ``samples`` and crown by test (see module docs).

    Args:
        state: The checkpoint just selected (or seeded).
        samples: Every sample, oldest first, of at least every population and
            archive member and of ``champion``; members not in it keep their
            record.
        genomes: At least the genomes of those ``samples``.
        champion: The crowned genome before this generation (None at first).
        counts: Samples per genome for the memo (all genomes with more than one).
        config: The campaign's ``evolution.noise``.
        evolution: The campaign's ``evolution`` (ranking, archive size).
        fitness: The campaign's fitness config (orients the objectives).

    Returns:
        The settled checkpoint (``noise`` holds the new champion and ``counts``).
    """

    def remember(m: Member) -> Member:
        if m.id not in samples:
            return m
        return member_of(genomes[m.id], averaged(samples[m.id]), fitness)

    population = [remember(m) for m in state.population]
    population.sort(key=selection_key(population, evolution))
    archive = sorted((remember(m) for m in state.archive), key=by_fitness)
    if archive:
        leader = archive[0].id
        if (
            champion is None
            or (
                leader != champion
                # The sample that made the leader lead is biased (the winner's
                # curse): only its fresh samples are evidence. A leader with no
                # samples given (steady state, mid-generation) has none.
                and beats(list(samples.get(leader, ()))[1:], samples[champion], config)
            )
        ):
            champion = leader
        crowned = member_of(genomes[champion], averaged(samples[champion]), fitness)
        archive = [crowned, *(m for m in archive if m.id != champion)]
        archive = archive[: max(1, evolution.archive_size)]
    history = [*state.best_history[:-1], archive[0].fitness] if archive else state.best_history
    memo = NoiseMemo(champion=champion, samples={g: n for g, n in sorted(counts.items()) if n > 1})
    return state.model_copy(
        update={
            "population": population,
            "archive": archive,
            "best_history": history,
            "noise": memo,
        }
    )
