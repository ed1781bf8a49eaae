"""The farm scheduler: drives one campaign through the engine, generation by generation.

It runs the ask/tell engine (:mod:`evofarm.evolution.engine`) exactly as the
in-process loop does (:mod:`evofarm.campaign.local.loop`), with the work spread over
the farm, so for the same seed the final best is the same however many workers
there were and however often the scheduler was interrupted:

1. ``plan_generation`` gives the breed tasks. Those with an LLM operator go out
   as one task each (``breed`` or ``mutate`` queue) carrying ids and small
   parameters; the others go out in batch tasks or are made by the scheduler
   itself (``SchedulerOptions.breeding``,
   :mod:`~evofarm.campaign.scheduler.breeding`), with the same result.
2. Workers store each child under its content hash and signal the result.
   Unless an evaluation cap forces waiting for the whole generation (to decide
   whether it may start, as the loop does), each new distinct genome is sent for
   evaluation as soon as its breed result arrives.
3. Workers record each evaluation once and signal it; the scheduler blocks on
   the campaign's event list (BLPOP), never busy-polls, uses no chords.
4. ``select`` gives the next state, checkpointed with that generation's
   fitness-history rows in one atomic step.
5. When the search ends (completed, or stopped by a budget) the final phase
   (:mod:`~evofarm.campaign.scheduler.final_phase`) chooses the winner on the
   held-out cases with ordinary evaluate tasks, once per campaign.

With ``evolution.nursery``, step 3 is staged: once the generation is bred,
its new children go through the nursery's stages as evaluate tasks at each
stage's fidelity, and only the promoted ones are fully evaluated
(:mod:`~evofarm.campaign.scheduler.nursery`); the culled ones are told to
``select`` as the loop tells them. (In steady state each birth goes through the
stages on its own: :mod:`~evofarm.campaign.scheduler.steady`.)

A ``request:`` campaign first has its genesis run on a breed worker
(:mod:`~evofarm.campaign.scheduler.genesis_phase`); generation 0 starts from
its seeds.

The scheduler keeps nothing Redis does not: restarted, it re-plans the
generation after the last checkpoint (planning is deterministic), reuses every
stored breed result and evaluation and re-sends only what is missing. A lease
in the store keeps a second scheduler off a campaign.

The scheduler rides out store and broker outages (a Redis restart, a cut
link): on :class:`~evofarm.errors.StoreUnreachable` it backs off until the store
answers, checks its lease and drives on from the last checkpoint, exactly as a
restarted scheduler would (:mod:`~evofarm.campaign.scheduler.recovery`).

This module is the generation driver (steady state, with no generations to
wait for, is :mod:`~evofarm.campaign.scheduler.steady`). Its collaborators each
own one concern:
:mod:`~evofarm.campaign.scheduler.inflight` (sending, settling and re-sending work),
:mod:`~evofarm.campaign.scheduler.waiting` (blocking on completions),
:mod:`~evofarm.campaign.scheduler.checkpoints` (checkpoints and watcher info),
:mod:`~evofarm.campaign.scheduler.lease` (one scheduler per campaign),
:mod:`~evofarm.campaign.scheduler.recovery` (outages),
:mod:`~evofarm.campaign.scheduler.noise` (``evolution.noise``: resampling after
the seeds and after every generation, then the crown),
:mod:`~evofarm.campaign.scheduler.final_phase` and
:mod:`~evofarm.campaign.scheduler.ending` (what an ending settles); its
options and outcome are :mod:`~evofarm.campaign.scheduler.options`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from pydantic import ValidationError

from evofarm.campaign import budgets, lifecycle
from evofarm.campaign.anomalies import HistoryDigest
from evofarm.campaign.bundle import Campaign, decode
from evofarm.campaign.lifecycle import Status
from evofarm.campaign.reports import anomaly_events
from evofarm.campaign.scheduler.breeding import (
    LocalBreeder,
    partition,
    resolve_breeding,
)
from evofarm.campaign.scheduler.checkpoints import (
    INFO_BEST,
    INFO_GENERATION,
    INFO_SCHEDULER,
    INFO_WALL,
    TIMING,
    Checkpointer,
)
from evofarm.campaign.scheduler.dispatcher import Dispatcher
from evofarm.campaign.scheduler.ending import history_of_interrupted, wait_revoked
from evofarm.campaign.scheduler.final_phase import FarmFinalPhase
from evofarm.campaign.scheduler.genesis_phase import await_genesis
from evofarm.campaign.scheduler.inflight import Pending, WorkTracker
from evofarm.campaign.scheduler.lease import Lease
from evofarm.campaign.scheduler.memory_hook import contribute_on_end
from evofarm.campaign.scheduler.noise import FarmNoise
from evofarm.campaign.scheduler.nursery import FarmNursery
from evofarm.campaign.scheduler.options import Outcome, SchedulerOptions
from evofarm.campaign.scheduler.reaping import PeriodicReap, Reaper
from evofarm.campaign.scheduler.recovery import LeaseLost, wait_until_reachable
from evofarm.campaign.scheduler.steady import SteadyRun
from evofarm.campaign.scheduler.waiting import Ended, Waiter
from evofarm.campaign.scheduler.wallclock import WallClock
from evofarm.campaign.worker import work
from evofarm.campaign.worker.shards import shard_count
from evofarm.errors import StoreError, StoreUnreachable
from evofarm.evolution.engine import (
    BreedResult,
    EvolutionState,
    plan_generation,
    seed_state,
    select,
    to_evaluate,
)
from evofarm.fitness.records import Evaluation
from evofarm.store.base import COUNTER_CASE_RUNS, PopulationStore

log = logging.getLogger(__name__)

#: Longest a killed campaign's scheduler waits for the kill to revoke its tasks.
REVOKE_WAIT_S = 5.0

__all__ = [
    "INFO_BEST",
    "INFO_GENERATION",
    "INFO_SCHEDULER",
    "INFO_WALL",
    "TIMING",
    "Outcome",
    "Scheduler",
    "SchedulerOptions",
]


class Scheduler:
    """Runs one campaign to its end. Use from one thread; :meth:`cancel` from any.

    Args:
        store: the population store (shared with the workers).
        dispatcher: sends the work.
        campaign: the campaign id (already submitted).
        options: wait timings.
        clock: monotonic seconds (wall-time budget).
        reaper: charges dead workers' ledger reservations (the farm's); None: never.
    """

    def __init__(
        self,
        store: PopulationStore,
        dispatcher: Dispatcher,
        campaign: str,
        *,
        options: SchedulerOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        reaper: Reaper | None = None,
    ) -> None:
        self.store = store
        self.reaper = reaper
        self.dispatcher = dispatcher
        self.campaign_id = campaign
        self.options = options or SchedulerOptions()
        self.clock = clock
        self.lease = Lease(store, campaign, self.options.lease_ttl_s, clock)
        #: Milliseconds from the last result of a generation to the first task of
        #: the next (the scheduler's own overhead between generations).
        self.turnarounds_ms: list[float] = []
        #: Task ids this scheduler sent (or found in flight) and has not yet
        #: cleared from the store's in-flight set; survives a recovery.
        self.sent_ids: list[str] = []
        #: Outages ridden out so far (for watchers and tests).
        self.recoveries = 0
        #: The generation of the last state loaded or selected.
        self.generation = 0
        self._cancel = threading.Event()
        self._step_back = threading.Event()
        self.wall = WallClock(store, campaign, clock)

    @property
    def owner(self) -> str:
        """Who this scheduler is (host, pid, nonce): the holder of its lease."""
        return self.lease.owner

    @property
    def stepping_back(self) -> bool:
        """Whether :meth:`step_back` was called."""
        return self._step_back.is_set()

    def step_back(self) -> None:
        """Ask :meth:`run` to hand the campaign back at its next wake-up, status untouched.

        The lease is released, so another scheduler (service) adopts the campaign
        at once. Used when a scheduler service shuts down. Safe from any thread.
        """
        self._step_back.set()
        with contextlib.suppress(StoreError):
            self.store.push_event(self.campaign_id, lifecycle.EVENTS, {"type": "cancel"})

    def cancel(self) -> None:
        """Ask :meth:`run` to stop at its next wake-up (the campaign ends ``stopped``)."""
        self._cancel.set()
        with contextlib.suppress(StoreError):
            self.store.push_event(self.campaign_id, lifecycle.EVENTS, {"type": "cancel"})

    def run(self) -> Outcome:
        """Run (or resume) the campaign to its end, riding out store outages.

        Returns:
            The outcome; if another scheduler took the lease over (e.g. after an
            outage longer than its TTL), the store's status ("running") with the
            reason "taken over by another scheduler".

        Raises:
            CampaignStateError: no such campaign, it completed already, or
                another scheduler holds it.
            StoreUnreachable: the store stayed unreachable over ``outage_s``.
            StoreError: the store is inconsistent.
        """
        record = lifecycle.require(self.store, self.campaign_id)
        campaign = decode(self.campaign_id, record.spec)
        self.lease.take(self.options.lease_wait_s)
        try:
            lifecycle.mark_running(self.store, self.campaign_id)
            self.store.update_info(self.campaign_id, {INFO_SCHEDULER: self.lease.owner})
            self.wall.start(record, campaign.spec.budgets)
            while True:
                try:
                    return _Driver(self, campaign).run()
                except StoreUnreachable as exc:
                    self._recover(exc)
        except LeaseLost as lost:
            log.warning("campaign %s: %s", self.campaign_id, lost)
            taken = "taken over by another scheduler"
            reason = "handed back" if self._step_back.is_set() else taken
            return Outcome(str(Status.RUNNING), reason, self.generation)
        finally:
            self.lease.release()

    def _recover(self, exc: StoreUnreachable) -> None:
        """Wait out an outage, then make sure this scheduler still holds the lease.

        Raises:
            StoreUnreachable: the outage outlasted ``outage_s``.
            LeaseLost: another scheduler took the campaign meanwhile.
        """
        log.warning("campaign %s: store unreachable (%s); reconnecting", self.campaign_id, exc)
        wait_until_reachable(
            lambda: self.store.get_status(self.campaign_id),
            outage_s=self.options.outage_s,
            backoff=self.options.backoff,
            clock=self.clock,
            first_error=exc,
        )
        if not self.lease.renew():
            raise LeaseLost(f"another scheduler holds {self.campaign_id!r} after the outage")
        self.recoveries += 1
        log.info("campaign %s: store back; resuming from the last checkpoint", self.campaign_id)

    def wall_s(self) -> float:
        """The campaign's wall time: earlier runs' plus this one's so far."""
        return self.wall.elapsed()

    def check_waiting(self) -> None:
        """:meth:`check_alive` at a wake-up of a wait, plus the wall clock's tick.

        Raises:
            Ended: as :meth:`check_alive`, or the wall-time budget is spent.
            LeaseLost: :meth:`step_back` was called.
        """
        self.check_alive()
        self.wall.tick()

    def check_alive(self) -> None:
        """Raise :class:`Ended` if the campaign was killed, ended elsewhere or cancelled.

        Raises:
            Ended: as above.
            LeaseLost: :meth:`step_back` was called.
        """
        status = self.store.get_status(self.campaign_id)
        if status == Status.KILLED:
            raise Ended(Status.KILLED, "killed")
        if status in lifecycle.ENDED:
            raise Ended(Status(status), "ended elsewhere")
        if self._step_back.is_set():
            raise LeaseLost("handed back (the scheduler service is shutting down)")
        if self._cancel.is_set():
            raise Ended(Status.STOPPED, "interrupted")


class _Driver:
    """One run of :meth:`Scheduler.run`: drives the generations with its collaborators."""

    def __init__(self, scheduler: Scheduler, campaign: Campaign) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.campaign = campaign
        self.campaign_id = scheduler.campaign_id
        self.tracker = WorkTracker(
            scheduler.store,
            scheduler.dispatcher,
            campaign,
            scheduler.clock,
            turnarounds_ms=scheduler.turnarounds_ms,
            sent_ids=scheduler.sent_ids,
        )
        history = self.store.read_history(self.campaign_id)
        in_history = {str(row.get("genome")) for row in history}
        #: The fitness history as the anomaly hook has read it (each row read once).
        self.history_digest = HistoryDigest.of(history)
        self.checkpoints = Checkpointer(
            self.store, self.campaign_id, scheduler.wall_s, in_history, self._anomalies
        )
        options = scheduler.options
        self.reap = PeriodicReap(
            scheduler.reaper,
            self.campaign_id,
            older_than_s=options.reap_after_s,
            every_s=options.reap_every_s,
            clock=scheduler.clock,
        )
        self.waiter = Waiter(
            self.tracker,
            scheduler.lease,
            scheduler.check_waiting,
            options.wait_s,
            options.stall_s,
            on_quiet=self.reap,
        )
        #: Where the children that need no LLM are made.
        self.breeding = resolve_breeding(options.breeding, campaign.spec.evolution.mode)
        self.batch_size = options.batch_size
        #: Makes them here (``scheduler`` breeding only).
        self.breeder = LocalBreeder(self.store, campaign) if self.breeding == "scheduler" else None
        #: Noise-aware acceptance (``evolution.noise``), or None.
        self.noise = self._noise()
        #: Staged evaluation of new children (``evolution.nursery`` only).
        self.nursery = self._nursery()
        #: The winner's choice on held-out cases, once the search ends.
        self.final = FarmFinalPhase(
            self.store,
            campaign,
            (self.tracker, self.waiter),
            self.checkpoints,
            tracker_for=self._split_tracker,
            waiter_for=self._split_waiter,
            shards=self._shards,
            means=self._means,
            release_wall=scheduler.wall.release,
        )

    def run(self) -> Outcome:
        if self.campaign.genesis_pending:
            try:
                seeded = await_genesis(self.tracker, self.waiter)
            except Ended as unseeded:
                return self._end(unseeded.status, unseeded.reason, 0)
            return _Driver(self.scheduler, seeded).run()
        state: EvolutionState | None = None
        steady = self._steady()
        try:
            state = self._load_or_seed()
            while True:
                self.scheduler.generation = state.generation
                ended = self._between_generations(state)
                if ended is not None:
                    self._final_phase(state, *ended)
                    return self._end(*ended, state.generation)
                state = steady.run(state) if steady else self._generation(state)
        except Ended as ended:
            if steady is not None and steady.state is not None:
                state = steady.state
            generation = state.generation if state else 0
            if state is not None and ended.status == Status.STOPPED:
                # The evaluation cap ends the search between generations, as in the loop.
                try:
                    self._final_phase(state, ended.status, ended.reason)
                except Ended as again:
                    return self._end(again.status, again.reason, generation)
            return self._end(ended.status, ended.reason, generation)
        except LeaseLost:
            if self.scheduler.stepping_back:
                # Still the holder: leave the finished generation to the adopter.
                self.checkpoints.flush()
            raise

    def _noise(self) -> FarmNoise | None:
        """Resampling and crowning by test, for a campaign with ``evolution.noise``."""
        if self.campaign.spec.evolution.noise is None:
            return None
        return FarmNoise(self.store, self.campaign, self._split_tracker, self._split_waiter)

    def _split_tracker(self, view: Campaign) -> WorkTracker:
        """A tracker of its own for ``view`` (a sample index, the validation split)."""
        scheduler = self.scheduler
        return WorkTracker(self.store, scheduler.dispatcher, view, scheduler.clock)

    def _split_waiter(self, tracker: WorkTracker) -> Waiter:
        """A waiter on ``tracker`` (as the generation's, without the reaping)."""
        scheduler, options = self.scheduler, self.scheduler.options
        return Waiter(
            tracker, scheduler.lease, scheduler.check_waiting, options.wait_s, options.stall_s
        )

    def _nursery(self) -> FarmNursery | None:
        """The farm's nursery, for a generational campaign with ``evolution.nursery``."""
        evolution = self.campaign.spec.evolution
        if evolution.nursery is None or evolution.mode == "steady":
            return None  # steady state stages each birth itself
        scheduler, options = self.scheduler, self.scheduler.options

        def waiter_for(tracker: WorkTracker) -> Waiter:
            return Waiter(
                tracker,
                scheduler.lease,
                scheduler.check_waiting,
                options.wait_s,
                options.stall_s,
                on_quiet=self.reap,
            )

        return FarmNursery(
            self.campaign, (self.tracker, self.waiter), self._tracker_for, waiter_for
        )

    def _steady(self) -> SteadyRun | None:
        """The steady-state driver, for a ``mode: steady`` campaign."""
        if self.campaign.spec.evolution.mode != "steady":
            return None

        def on_state(state: EvolutionState) -> None:
            self.scheduler.generation = state.generation

        return SteadyRun(
            self.store,
            self.campaign,
            tracker=self.tracker,
            waiter=self.waiter,
            checkpoints=self.checkpoints,
            breeder=self.breeder,
            breeding=self.breeding,
            batch_size=self.batch_size,
            ending=self._between_generations,
            on_state=on_state,
            shards=lambda evaluations: self._shards(self.tracker, evaluations),
            spread=self.scheduler.options.spread,
            tracker_for=self._tracker_for,
            noise=self.noise,
        )

    def _tracker_for(self, view: Campaign) -> WorkTracker:
        """A tracker of ``view`` (a nursery stage, a sample index) sharing the sent ids."""
        scheduler = self.scheduler
        return WorkTracker(
            self.store, scheduler.dispatcher, view, scheduler.clock, sent_ids=scheduler.sent_ids
        )

    def _final_phase(self, state: EvolutionState, status: Status, reason: str) -> None:
        """The final phase on the farm (:mod:`~evofarm.campaign.scheduler.final_phase`).

        Raises:
            Ended: the campaign was killed or cancelled meanwhile.
        """
        self.final.run(state, status, reason)

    def _means(
        self, evaluations: dict[str, Evaluation], state: EvolutionState
    ) -> dict[str, Evaluation]:
        """Resampled genomes' evaluations averaged over their samples (identity without noise)."""
        return evaluations if self.noise is None else self.noise.means(evaluations, state.noise)

    def _shards(self, tracker: WorkTracker, evaluations: int) -> int:
        """Tasks per evaluation when only ``evaluations`` evaluations share the farm."""
        options = self.scheduler.options
        width = options.spread // max(1, evaluations)
        return shard_count(tracker.cases, options.split_cases, width)

    def _anomalies(self, generation: int) -> None:
        """The per-generation anomaly hook: detect and store (never fails the campaign)."""
        with contextlib.suppress(StoreError):
            anomaly_events.check_generation(
                self.store, self.campaign_id, generation, digest=self.history_digest
            )

    def _between_generations(self, state: EvolutionState) -> tuple[Status, str] | None:
        """Whether (and how) the campaign ends before the next generation.

        Same order of checks as the in-process loop, then the farm's own.
        """
        self.scheduler.check_alive()
        self.reap()
        spec = self.campaign.spec
        target = spec.evolution.target_fitness
        if target is not None and state.best is not None and state.best.fitness >= target:
            return Status.COMPLETED, f"target fitness {target} reached"
        if state.generation >= spec.evolution.generations:
            return Status.COMPLETED, f"ran {spec.evolution.generations} generations"
        wall_s = self.scheduler.wall_s()
        crossed = budgets.check_wall_time(self.store, self.campaign_id, spec.budgets, wall_s)
        if crossed is not None:
            reason = budgets.describe(self.store, self.campaign_id, crossed, spec.budgets, wall_s)
            return Status.STOPPED, reason
        if self.store.get_info(self.campaign_id, lifecycle.STOP_REQUESTED) == "1":
            return Status.STOPPED, "stopped by user"
        return None

    def _check_cap(self, more: int) -> None:
        """End the campaign (stopped) if ``more`` evaluations would pass the hard cap."""
        reason = budgets.evaluations_exceeded(
            self.store, self.campaign_id, self.campaign.spec.budgets, more
        )
        if reason is not None:
            raise Ended(Status.STOPPED, reason)

    def _load_or_seed(self) -> EvolutionState:
        """The latest checkpoint, or the generation-0 one, made now."""
        checkpoint = self.store.load_checkpoint(self.campaign_id)
        if checkpoint is not None:
            try:
                return EvolutionState.model_validate(checkpoint.state)
            except ValidationError as exc:
                raise StoreError(f"corrupt checkpoint {checkpoint.generation}: {exc}") from exc
        campaign, tracker = self.campaign, self.tracker
        seeds = list(campaign.seed_genomes)
        self._check_cap(len([g for g in seeds if g not in tracker.known]))
        pending = Pending()
        # The seeds alone would hold few slots: their cases are spread over the farm.
        shards = self._shards(tracker, len(seeds))
        tracker.send_evaluations(pending, seeds, generation=0, shards=shards)
        self.waiter.wait(pending, generation=0, pipelined=True)
        genomes = tracker.genomes(seeds)
        evaluations = tracker.evaluations(seeds)
        state = seed_state(
            campaign.spec, self.campaign_id, campaign.seed, list(genomes.values()), evaluations
        )
        if self.noise is not None:
            state = self.noise.settle(None, state, generation=0)
        self.checkpoints.write(state, seeds, evaluations)
        tracker.clear_caches()
        return state

    def _generation(self, state: EvolutionState) -> EvolutionState:
        """Run the generation after ``state``.

        Raises:
            Ended: the evaluation cap forbids it, or the campaign ended meanwhile.
        """
        started = self.scheduler.clock()
        campaign, tracker = self.campaign, self.tracker
        generation = state.generation + 1
        tasks = plan_generation(state, campaign.spec)
        pending = Pending()
        stored = self.store.task_results(self.campaign_id, generation, work.BREED)
        for slot, doc in stored.items():
            pending.results[slot] = BreedResult.model_validate(doc)
        pending.breed = {t.slot: t for t in tasks if t.slot not in pending.results}
        # With an evaluation cap the loop decides on the whole generation before
        # evaluating any of it; without one, evaluation starts with the first child.
        # The nursery ranks the whole cohort, so it waits for it too.
        pipelined = campaign.spec.budgets.max_evaluations is None and self.nursery is None
        cheap, single = partition(pending.breed.values(), self.breeding)
        tracker.send_breeds(single)
        if self.breeding == "batch":
            tracker.send_breed_batches(cheap, self.batch_size)
        if self.breeder is not None:
            for made in self.breeder.breed_each(cheap):
                tracker.settle_local(pending, [made])
                if pipelined:
                    tracker.send_evaluations(pending, tracker.unevaluated([made[0]]), generation)
        # The previous generation's checkpoint waits until this one's tasks are out.
        self.checkpoints.flush()
        if pipelined:
            new = tracker.unevaluated(pending.results.values())
            tracker.send_evaluations(pending, new, generation)
        self.waiter.wait(pending, generation, pipelined)
        results = [pending.results[t.slot] for t in tasks]
        if not pipelined:
            # Evaluations stored before an interruption are already counted in
            # the store, so only the rest is "more".
            to_send = tracker.unevaluated(results)
            self._check_cap(len(to_send))
            if self.nursery is None:
                tracker.send_evaluations(pending, to_send, generation)
                self.waiter.wait(pending, generation, pipelined)
        new_ids = to_evaluate(results, self.checkpoints.in_history)
        culled: list[str] = []
        if self.nursery is not None:
            culled = self.nursery.run(new_ids, generation).culled
            new_ids = [g for g in new_ids if g not in culled]
        offspring_ids = sorted({r.genome for r in results if r.genome is not None})
        genomes = tracker.genomes(offspring_ids)
        evaluations = self._means(
            tracker.evaluations([g for g in offspring_ids if g not in culled]), state
        )
        next_state = select(state, results, genomes, evaluations, campaign.spec, culled=culled)
        if self.noise is not None:
            next_state = self.noise.settle(state.noise, next_state, generation)
        elapsed_s = self.scheduler.clock() - started
        # A nursery's point is fewer case runs: keep the count at each generation.
        case_runs = None
        if self.nursery is not None:
            case_runs = self.store.counters(self.campaign_id).get(COUNTER_CASE_RUNS, 0)
        self.checkpoints.defer(next_state, new_ids, evaluations, elapsed_s, case_runs)
        tracker.clear_caches()
        return next_state

    def _end(self, status: Status, reason: str, generation: int) -> Outcome:
        self.checkpoints.flush()
        # A kill (or another ending) may have won the race: report what the store says.
        if not lifecycle.end(self.store, self.campaign_id, status, reason):
            record = self.store.get_campaign(self.campaign_id)
            if record is not None:
                status, reason = Status(record.status), record.reason
        if status is Status.KILLED:
            # The kill's caller revokes what is in flight and then clears the set:
            # wait for that, so an evaluation recorded just before its task was
            # revoked still gets its history row below.
            wait_revoked(self.store, self.campaign_id, self.scheduler.clock, REVOKE_WAIT_S)
        else:
            # Nothing is pending any more: what is left in the set was lost or re-sent.
            self.tracker.clear_inflight(everything=True)
        history_of_interrupted(self.store, self.campaign, self.checkpoints, generation + 1)
        with contextlib.suppress(StoreError):
            self.store.update_info(self.campaign_id, {INFO_WALL: repr(self.scheduler.wall_s())})
        try:
            seen_ok = self.tracker.seen_ok
            contribute_on_end(self.store, self.campaign, str(status), known_ok=seen_ok)
        except StoreError as exc:  # the memory is a bonus: never fail an ending over it
            log.warning("campaign %s: not mined into the memory: %s", self.campaign_id, exc)
        return Outcome(status=str(status), reason=reason, generation=generation)
