"""Noise-aware acceptance on the farm (``evolution.noise``): resample on the queues, crown.

After the seeds and after every generation the generation driver calls
:meth:`FarmNoise.settle`. It asks :func:`~evofarm.evolution.noise_settle.sample_plan`
which genomes need more samples (the elites, the challenger, the champion), sends
each missing sample as an ordinary evaluate task on the ``evaluate`` queue, waits
for them like any other evaluation, and lets :func:`~evofarm.evolution.noise_settle.crown`
re-rank by means and crown by test: the same decisions as the in-process loop
(:mod:`evofarm.campaign.local.noise`) on the same samples.

Sample ``k > 0`` of a genome is a distinct evaluation, keyed by the fidelity
key :func:`~evofarm.campaign.bundle.sample_fidelity` gives (``1.0+s2``): the worker
records it once and counts it once in the campaign's ``evaluations`` counter (a
redelivered or re-sent task only signals it again), runs it with the sample
index reaching the checks (a new draw, never the first evaluation's record or
the fleet's evaluation cache entry of it), and it gets no fitness-history row
(the in-process loop writes none for a resample either).

What survives a restart: the samples are in the store, and the champion and the
per-genome sample counts are in the checkpoint (``EvolutionState.noise``). A
resumed scheduler re-plans the generation after the checkpoint, so it asks for
the same samples, finds those already stored and sends only the rest.

Thread safety: none (one driver owns it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from evofarm.campaign.bundle import Campaign, parse_sample, sample_fidelity
from evofarm.campaign.scheduler.inflight import Pending, WorkTracker
from evofarm.campaign.scheduler.waiting import Waiter
from evofarm.campaign.worker import work
from evofarm.errors import StoreError
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.noise import NoiseConfig, NoiseMemo, averaged
from evofarm.evolution.noise_settle import crown, sample_plan, targets
from evofarm.fitness.records import Evaluation
from evofarm.store.base import EvalKey, PopulationStore

#: Makes a tracker's waiter (the driver's lease, liveness checks and timings).
WaiterFor = Callable[[WorkTracker], Waiter]
#: Makes the tracker of one sample index's evaluations.
TrackerFor = Callable[[Campaign], WorkTracker]


class FarmNoise:
    """One campaign's noise-aware acceptance on the farm.

    Args:
        store: the population store.
        campaign: the decoded campaign (``spec.evolution.noise`` set).
        tracker_for: makes a tracker for a campaign view (one per sample index).
        waiter_for: makes the waiter of such a tracker.
    """

    def __init__(
        self,
        store: PopulationStore,
        campaign: Campaign,
        tracker_for: TrackerFor,
        waiter_for: WaiterFor,
    ) -> None:
        noise = campaign.spec.evolution.noise
        if noise is None:
            raise ValueError("FarmNoise needs a campaign with evolution.noise")
        self.config: NoiseConfig = noise
        self.store = store
        self.campaign = campaign
        self.tracker_for = tracker_for
        self.waiter_for = waiter_for

    def settle(
        self, memo: NoiseMemo | None, state: EvolutionState, generation: int
    ) -> EvolutionState:
        """Draw the samples the plan asks for, then re-rank and crown ``state``.

        Args:
            memo: the previous checkpoint's ``noise`` (None after the seeds).
            state: the checkpoint just selected (or seeded), not yet settled.
            generation: the generation the samples are drawn for (task bookkeeping).

        Raises:
            Ended, LeaseLost, StoreError: as a generation's wait does.
        """
        wanted = targets(sample_plan(state, memo, self.config), memo)
        self._draw(wanted, generation)
        counts = {**(memo.samples if memo else {}), **wanted}
        ids = {m.id for m in (*state.population, *state.archive)} | set(wanted)
        if memo is not None and memo.champion is not None:
            ids.add(memo.champion)
        ordered = sorted(ids)
        samples = self.samples(ordered, counts)
        genomes = work.load_genomes(self.store, self.campaign.id, ordered)
        spec = self.campaign.spec
        return crown(
            state,
            samples,
            genomes,
            champion=memo.champion if memo else None,
            counts=counts,
            config=self.config,
            evolution=spec.evolution,
            fitness=spec.fitness,
        )

    def means(
        self, evaluations: Mapping[str, Evaluation], memo: NoiseMemo | None
    ) -> dict[str, Evaluation]:
        """``evaluations`` (first samples) with each resampled genome's averaged over its samples.

        What the in-process loop holds as a genome's evaluation once it was
        resampled (re-bred genomes, the final phase's finalists).
        """
        found = dict(evaluations)
        if memo is None:
            return found
        resampled = sorted(g for g in found if memo.count(g) > 1)
        for gid, kept in self.samples(resampled, memo.samples).items():
            found[gid] = averaged(kept)
        return found

    def samples(self, ids: Iterable[str], counts: Mapping[str, int]) -> dict[str, list[Evaluation]]:
        """Every sample of those genomes, oldest first (``counts``: 1 when unlisted).

        Raises:
            StoreError: a sample is missing or corrupt.
        """
        wanted = [(gid, k) for gid in ids for k in range(counts.get(gid, 1))]
        campaign = self.campaign
        keys = [
            EvalKey(g, campaign.suite_id, sample_fidelity(campaign.fidelity, k)) for g, k in wanted
        ]
        docs = self.store.get_evaluations(campaign.id, keys)
        found: dict[str, list[Evaluation]] = {}
        for (gid, k), doc in zip(wanted, docs, strict=True):
            if doc is None:
                raise StoreError(f"campaign {campaign.id!r}: no sample {k} of {gid}")
            found.setdefault(gid, []).append(Evaluation.model_validate(doc))
        return found

    def stored_counts(self) -> dict[str, int]:
        """Genome id -> one more than its highest sample index stored (genomes with samples).

        What resamples have stored, whatever asked for them: the trusted
        record a resumed steady scheduler reconciles its checkpoint with.
        """
        campaign = self.campaign
        found: dict[str, int] = {}
        for key in self.store.evaluation_keys(campaign.id):
            if key.suite_id != campaign.suite_id:
                continue
            base, sample = parse_sample(key.fidelity)
            if sample and base == campaign.fidelity:
                found[key.genome_id] = max(found.get(key.genome_id, 1), sample + 1)
        return found

    def _draw(self, wanted: Mapping[str, int], generation: int) -> None:
        """Send every missing sample of ``wanted`` (all indexes at once), wait for them all."""
        most = max(wanted.values(), default=1)
        # Every tracker is made before any sends: each then adopts only a
        # previous scheduler's leftovers as in flight, never its siblings' tasks.
        trackers = {k: self.tracker_for(self.campaign.for_sample(k)) for k in range(1, most)}
        pending = {k: Pending() for k in trackers}
        for k, tracker in trackers.items():
            tracker.send_evaluations(
                pending[k], sorted(g for g, n in wanted.items() if n > k), generation
            )
        for k, tracker in trackers.items():
            # A wait drops the events of other samples; the next one's
            # reconciliation with the store settles whatever they announced.
            self.waiter_for(tracker).wait(pending[k], generation, pipelined=True)
