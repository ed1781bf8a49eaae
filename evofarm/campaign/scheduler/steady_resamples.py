"""Steady state's resample jobs on the farm (``evolution.noise`` with ``mode: steady``).

:class:`~evofarm.campaign.scheduler.steady.SteadyRun` asks :meth:`Resamples.start`
after every tell and at every checkpoint (then with the elites due). The job
:func:`~evofarm.evolution.steady_noise.next_job` names (a would-be champion and
the champion; the elites once a generation) goes out as evaluate tasks, sample
``k`` of a genome on the tracker of ``campaign.for_sample(k)`` (keyed ``1.0+sK``,
recorded and counted once by the worker). Its tasks hold slots like births
(:attr:`Resamples.busy`). Once every one is stored, :meth:`Resamples.finish`
re-ranks and crowns (:func:`~evofarm.evolution.steady_noise.settle_samples`).
One job is out at a time.

Resume: the counts and the champion are in the checkpoint, and so are the job
out when it was written and whether the elites were due
(:meth:`Resamples.recorded`). A resumed scheduler sends that job again, or
starts the one due at the checkpoint, before it tells any birth, and adopts
any sample the store holds beyond them (:meth:`Resamples.resume`); trackers
skip stored evaluations, so only what is missing goes out.

Thread safety: none (the steady run's thread drives it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from evofarm.campaign.bundle import Campaign
from evofarm.campaign.scheduler.inflight import Pending, WorkTracker
from evofarm.campaign.scheduler.noise import FarmNoise
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.genome import Genome
from evofarm.evolution.noise import NoiseMemo
from evofarm.evolution.steady_noise import next_job, settle_samples

#: Makes the tracker of a campaign view (a nursery stage's fidelity, a sample index).
TrackerFor = Callable[[Campaign], WorkTracker]


@dataclass
class Level:
    """The evaluations of one fidelity key besides the campaign's own (a stage, a sample)."""

    tracker: WorkTracker
    pending: Pending = field(default_factory=Pending)
    #: Genome id -> the birth waiting for its evaluation (nursery stages only).
    waiting: dict[str, int] = field(default_factory=dict)


class Resamples:
    """One steady campaign's resample jobs.

    Args:
        noise: the campaign's noise-aware acceptance (its config, sample reads).
        campaign: the decoded campaign.
        tracker_for: makes a sample index's tracker.
        genomes: reads genomes (the campaign tracker's cache, then the store).
    """

    def __init__(
        self,
        noise: FarmNoise,
        campaign: Campaign,
        tracker_for: TrackerFor,
        genomes: Callable[[list[str]], dict[str, Genome]],
    ) -> None:
        self.noise = noise
        self.campaign = campaign
        self.tracker_for = tracker_for
        self.genomes = genomes
        #: Sample index -> its level (made when first needed).
        self.levels: dict[int, Level] = {}
        #: The job out now (genome id -> samples wanted), or None.
        self.job: dict[str, int] | None = None
        self.elites_due = False
        #: Set when the evaluation cap forbade a job: the campaign stops.
        self.capped: str | None = None

    @property
    def busy(self) -> int:
        """Resample tasks out (each holds a slot)."""
        return sum(len(level.pending.evals) for level in self.levels.values())

    def start(
        self, state: EvolutionState, cap: Callable[[int], str | None], *, elites: bool = False
    ) -> None:
        """Send the job due now, if any and none is out.

        Args:
            state: the current state.
            cap: the reason ``n`` more evaluations would pass the cap (None: they may run).
            elites: a generation closed: the elites are due one more sample.
        """
        self.elites_due = self.elites_due or elites
        if self.job is not None or self.capped is not None:
            return
        wanted, self.elites_due = next_job(state, self.noise.config, elites_due=self.elites_due)
        if not wanted:
            return
        memo = state.noise or NoiseMemo()
        self.capped = cap(sum(n - memo.count(g) for g, n in wanted.items()))
        if self.capped is not None:
            return
        self.job = wanted
        self._send(state, wanted)

    def recorded(self, state: EvolutionState, *, elites: bool) -> EvolutionState:
        """``state`` with the job out and whether the elites are due in its memo: a checkpoint.

        Args:
            state: the state a generation's checkpoint writes.
            elites: the generation it closes makes the elites due (not the last one).
        """
        due = self.elites_due or elites
        if state.noise is None and self.job is None and not due:
            return state
        memo = (state.noise or NoiseMemo()).model_copy(
            update={"job": dict(self.job) if self.job else None, "elites_due": due}
        )
        return state.model_copy(update={"noise": memo})

    def resume(self, state: EvolutionState, cap: Callable[[int], str | None]) -> EvolutionState:
        """Take up a checkpoint's job and due elites; count every sample the store holds.

        The job ``state`` records (out when it was written) is sent again, only
        its samples not stored going out. Without one, the job due at the
        checkpoint is started as :meth:`start` does (the elites' when they are
        due): what the cut-off run sent, or was about to, right after writing it.
        Samples stored beyond both (a job the cut-off run started after the
        checkpoint) join the job, its missing samples sent, so that once it
        settles the memo counts every sample stored, each once (a sample's
        count is its index, not a tally, so sending again counts nothing twice).

        Args:
            state: the checkpoint the run resumes from (before any birth is told).
            cap: as for :meth:`start`.

        Returns:
            ``state`` without that bookkeeping (held here from now on).
        """
        memo = state.noise or NoiseMemo()
        clean = state
        if state.noise is not None:
            plain = memo.model_copy(update={"job": None, "elites_due": False})
            clean = state.model_copy(update={"noise": plain})
        self.elites_due = memo.elites_due
        if memo.job:
            self.job = dict(memo.job)  # the cut-off run passed it through the cap
        else:
            self.start(clean, cap)
        if self.capped is not None:
            return clean
        job, most = dict(self.job or {}), self.noise.config.samples
        for gid, stored in self.noise.stored_counts().items():
            if min(stored, most) > max(memo.count(gid), job.get(gid, 0)):
                job[gid] = min(stored, most)
        if job:
            # Any gap below a stored sample is one the cut-off run sent (past the cap) too.
            self.job = job
            self._send(clean, job)  # sends nothing stored or already out
        return clean

    def finish(self, state: EvolutionState) -> EvolutionState | None:
        """The state settled by the job once all its samples are stored; None until then."""
        if self.job is None or self.busy:
            return None
        wanted, self.job = self.job, None
        memo = state.noise or NoiseMemo()
        ids = sorted({*wanted, *([memo.champion] if memo.champion else [])})
        samples = self.noise.samples(ids, {**memo.samples, **wanted})
        spec = self.campaign.spec
        return settle_samples(
            state,
            samples,
            self.genomes(ids),
            wanted,
            config=self.noise.config,
            evolution=spec.evolution,
            fitness=spec.fitness,
        )

    def _send(self, state: EvolutionState, job: dict[str, int]) -> None:
        """Send the samples of ``job`` that are neither stored nor out."""
        memo = state.noise or NoiseMemo()
        for k in range(1, max(job.values())):
            ids = sorted(g for g, n in job.items() if memo.count(g) <= k < n)
            level = self._level(k)
            level.tracker.send_evaluations(level.pending, ids, state.generation + 1)

    def _level(self, sample: int) -> Level:
        if sample not in self.levels:
            self.levels[sample] = Level(self.tracker_for(self.campaign.for_sample(sample)))
        return self.levels[sample]
