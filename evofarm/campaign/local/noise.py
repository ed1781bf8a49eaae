"""Noise-aware acceptance in the in-process loop: resample, average, crown by test.

:class:`NoisyAcceptance` keeps every sample of every genome (``evolution.noise``).
After the seeds and after every generation, :meth:`NoisyAcceptance.settle`
draws the samples :func:`~evofarm.evolution.noise_settle.sample_plan` asks for
and lets :func:`~evofarm.evolution.noise_settle.crown` re-rank and crown (the
farm's scheduler does the same with evaluate tasks:
:mod:`evofarm.campaign.scheduler.noise`). ``archive[0]`` of the settled state is
the crowned genome: the campaign's reported best. In steady state,
:meth:`NoisyAcceptance.settle_birth` does it per birth told
(:mod:`~evofarm.evolution.steady_noise`).

Thread safety: none (one loop owns it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from evofarm.evolution.config import EvolutionConfig
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.genome import Genome
from evofarm.evolution.noise import NoiseConfig, NoiseMemo, averaged
from evofarm.evolution.noise_settle import crown, sample_plan
from evofarm.evolution.steady_noise import next_job, settle_samples
from evofarm.fitness.records import Evaluation
from evofarm.fitness.scoring import FitnessConfig

#: Draws sample ``k`` (0 is the first evaluation) of a genome.
Sampler = Callable[[Genome, int], Evaluation]


@dataclass
class NoisyAcceptance:
    """Samples per genome and the crowned champion of one campaign.

    Attributes:
        config: The campaign's ``evolution.noise``.
        evaluate: Draws one more sample of a genome, given its index.
        samples: Every evaluation of each genome, oldest first.
        champion: The crowned genome id.
        resamples: Evaluations run beyond the first of each genome.
        case_runs: Cases those resamples ran.
    """

    config: NoiseConfig
    evaluate: Sampler
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

    def memo(self) -> NoiseMemo:
        """The champion and the sample counts, as a checkpoint keeps them."""
        counts = {g: len(s) for g, s in sorted(self.samples.items()) if len(s) > 1}
        return NoiseMemo(champion=self.champion, samples=counts)

    def _top_up(self, genome: Genome, count: int) -> None:
        kept = self.samples.setdefault(genome.id, [])
        while len(kept) < min(count, self.config.samples):
            evaluation = self.evaluate(genome, len(kept))
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
        for gid, count in sample_plan(state, self.memo(), self.config):
            self._top_up(genomes[gid], count)
        settled = crown(
            state,
            self.samples,
            genomes,
            champion=self.champion,
            counts=self.memo().samples,
            config=self.config,
            evolution=evolution,
            fitness=fitness,
        )
        assert settled.noise is not None  # crown always sets it
        self.champion = settled.noise.champion
        return settled

    def settle_birth(
        self,
        state: EvolutionState,
        genomes: Mapping[str, Genome],
        evolution: EvolutionConfig,
        fitness: FitnessConfig,
        *,
        elites: bool,
        allowed: Callable[[int], bool] = lambda _: True,
    ) -> EvolutionState:
        """Steady state: draw the resamples due, crown; repeat until none is due (see
        :func:`~evofarm.evolution.steady_noise.next_job`).

        Args:
            state: The state just told a birth (its champion held,
                :func:`~evofarm.evolution.steady_noise.hold_crown`), or closed.
            elites: Whether the elites are due one more sample (a generation closed).
            allowed: Whether that many more evaluations may run (the cap); when
                not, nothing more is drawn and ``state`` is returned as it is.
        """
        while True:
            wanted, elites = next_job(state, self.config, elites_due=elites)
            if not wanted:
                return state
            if not allowed(sum(n - len(self.samples.get(g, ())) for g, n in wanted.items())):
                return state
            for gid, count in wanted.items():
                self._top_up(genomes[gid], count)
            # The drawn genomes' and the champion's samples, as the farm reads them back.
            drawn = {*wanted, *([self.champion] if self.champion else [])}
            state = settle_samples(
                state, {g: self.samples[g] for g in drawn}, genomes, wanted,
                config=self.config, evolution=evolution, fitness=fitness,
            )  # fmt: skip
            assert state.noise is not None  # crown always sets it
            self.champion = state.noise.champion
