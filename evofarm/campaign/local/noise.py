"""Noise-aware acceptance in the in-process loop: resample, average, crown by test.

:class:`NoisyAcceptance` keeps every sample of every genome (``evolution.noise``,
decided by :mod:`evofarm.evolution.noise`). After the seeds and after every
generation, :meth:`NoisyAcceptance.settle` re-evaluates the population's elites
and the archive's best until they have ``samples`` evaluations, re-ranks the
population and the archive by the mean over samples, and keeps the current
champion at the head of the archive unless the challenger (the best by mean)
passes the configured test against it, on its samples *after* the first (the
one that made it lead is biased upwards: the winner's curse). ``archive[0]``
is therefore the crowned genome: the campaign's reported best.

Thread safety: none (one loop owns it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from evofarm.evolution.config import EvolutionConfig
from evofarm.evolution.engine import EvolutionState, member_of, selection_key
from evofarm.evolution.genome import Genome
from evofarm.evolution.noise import NoiseConfig, averaged, beats
from evofarm.evolution.selection.base import Member, by_fitness
from evofarm.fitness.records import Evaluation
from evofarm.fitness.scoring import FitnessConfig


@dataclass
class NoisyAcceptance:
    """Samples per genome and the crowned champion of one campaign.

    Attributes:
        config: The campaign's ``evolution.noise``.
        evaluate: Draws one more sample of a genome.
        samples: Every evaluation of each genome, oldest first.
        champion: The crowned genome id.
        resamples: Evaluations run beyond the first of each genome.
        case_runs: Cases those resamples ran.
    """

    config: NoiseConfig
    evaluate: Callable[[Genome], Evaluation]
    samples: dict[str, list[Evaluation]] = field(default_factory=dict)
    champion: str | None = None
    resamples: int = 0
    case_runs: int = 0

    def record(self, genome_id: str, evaluation: Evaluation) -> None:
        """Keep a first evaluation as the genome's first sample."""
        self.samples.setdefault(genome_id, []).append(evaluation)

    def mean(self, genome_id: str) -> Evaluation:
        """The averaged evaluation of a genome (:func:`~evofarm.evolution.noise.averaged`)."""
        return averaged(self.samples[genome_id])

    def _top_up(self, genome: Genome, count: int) -> None:
        kept = self.samples.setdefault(genome.id, [])
        while len(kept) < min(count, self.config.samples):
            evaluation = self.evaluate(genome)
            kept.append(evaluation)
            self.resamples += 1
            self.case_runs += len(evaluation.cases)

    def settle(
        self,
        state: EvolutionState,
        genomes: Mapping[str, Genome],
        evolution: EvolutionConfig,
        fitness: FitnessConfig,
    ) -> EvolutionState:
        """Resample, re-rank by means and crown by test; return the adjusted checkpoint."""
        elites = sorted(state.population, key=by_fitness)[: self.config.elites]
        for member in elites:
            self._top_up(genomes[member.id], len(self.samples.get(member.id, [])) + 1)
        challenger = state.archive[0].id if state.archive else None
        for gid in (challenger, self.champion):
            if gid is not None:
                self._top_up(genomes[gid], self.config.samples)

        def remember(m: Member) -> Member:
            return member_of(genomes[m.id], self.mean(m.id), fitness) if m.id in self.samples else m

        population = [remember(m) for m in state.population]
        population.sort(key=selection_key(population, evolution))
        archive = sorted((remember(m) for m in state.archive), key=by_fitness)
        if archive:
            leader = archive[0].id
            if (
                self.champion is None
                or (
                    leader != self.champion
                    # The sample that made the leader lead is biased (the winner's
                    # curse): only its fresh samples are evidence.
                    and beats(self.samples[leader][1:], self.samples[self.champion], self.config)
                )
            ):
                self.champion = leader
            crowned = member_of(genomes[self.champion], self.mean(self.champion), fitness)
            archive = [crowned, *(m for m in archive if m.id != self.champion)]
            archive = archive[: max(1, evolution.archive_size)]
        history = [*state.best_history[:-1], archive[0].fitness] if archive else state.best_history
        return state.model_copy(
            update={"population": population, "archive": archive, "best_history": history}
        )
