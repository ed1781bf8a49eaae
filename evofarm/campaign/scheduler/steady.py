"""Steady state on the farm (``evolution.mode: steady``): a freed slot gets a child at once.

The generational driver waits for a whole generation; this one keeps
``lambda`` births open and, as each evaluation arrives, tells the population
(:func:`~evofarm.evolution.steady.tell_birth`) and plans the next birth from it
(:func:`~evofarm.evolution.steady.plan_birth`). Children that need no LLM are
bred here (:mod:`~evofarm.campaign.scheduler.breeding`), the others go to the
breed queue. Every ``lambda`` births told, a checkpoint is written with its
history rows, and the campaign's endings (target, generations, wall time,
stop) are checked, as between generations.

Resumable: each birth's breed task is stored (result kind :data:`STEADY`)
before it is bred, and a checkpoint lists the births still open, so a
restarted scheduler finishes those (reusing any breed result and evaluation
the store holds) and re-plans nothing it already planned. Killed, nothing more
is sent; every stored evaluation still gets its history row (the driver's
ending does that).

With ``evolution.nursery`` a birth's child goes through the stages as evaluate
tasks at each stage's fidelity, one tracker per stage; as each stage result
arrives :func:`~evofarm.evolution.steady_nursery.stage_verdict` promotes the
child to the next stage (the full evaluation after the last) or culls it, which
tells the birth and frees its slot at once. Workers run only the cases a lower
stage did not (:mod:`~evofarm.campaign.worker.staged`) and count the case runs.

With ``evolution.noise`` every tell keeps the champion crowned
(:func:`~evofarm.evolution.steady_noise.hold_crown`), and the resample jobs due
(a would-be champion and the champion after a tell, the elites at each
checkpoint) go out as tasks that hold slots like births
(:mod:`~evofarm.campaign.scheduler.steady_resamples`). A generation's
checkpoint waits for a job only when no birth is open (then the job's contest
belongs to it, as in the loop); otherwise it records the job out, and whether
the elites are due, so a restarted scheduler takes both up.

The decisions are the in-process loop's pure functions, so given the same
completion order both decide alike; on a farm that order is timing's, so a
steady campaign is not reproducible run to run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from evofarm.campaign import budgets, lifecycle
from evofarm.campaign.bundle import Campaign, fidelity_key
from evofarm.campaign.lifecycle import Status
from evofarm.campaign.scheduler.breeding import Breeding, LocalBreeder, partition
from evofarm.campaign.scheduler.checkpoints import Checkpointer
from evofarm.campaign.scheduler.inflight import Pending, WorkTracker
from evofarm.campaign.scheduler.noise import FarmNoise
from evofarm.campaign.scheduler.steady_resamples import Level, Resamples, TrackerFor
from evofarm.campaign.scheduler.waiting import WAKE_UPS, Ended, Waiter
from evofarm.campaign.worker import work
from evofarm.evolution.engine import (
    BreedResult,
    BreedTask,
    EvolutionState,
    SteadyMemo,
    member_of,
)
from evofarm.evolution.genome import Genome
from evofarm.evolution.steady import birth_slot, close_generation, plan_birth, tell_birth
from evofarm.evolution.steady_noise import hold_crown
from evofarm.evolution.steady_nursery import stage_verdict
from evofarm.fitness.records import Evaluation
from evofarm.store.base import JSONDoc, PopulationStore

#: Per-generation task-result kind holding each birth's breed task (by slot).
STEADY = "steady"

#: Decides, from a checkpointed state, whether (and how) the campaign ends.
Ending = Callable[[EvolutionState], tuple[Status, str] | None]


@dataclass
class _Open:
    """One birth planned and not yet told."""

    task: BreedTask
    result: BreedResult | None = None


class SteadyRun:
    """Drives one campaign in steady state until it ends or must stop. Use from one thread.

    Args:
        store: the population store.
        campaign: the decoded campaign.
        tracker: sends and settles the campaign's work.
        waiter: renews the lease and honours kill/cancel while waiting.
        checkpoints: writes checkpoints and history rows.
        breeder: makes the children that need no LLM (``scheduler`` breeding).
        breeding: where those children are made (``scheduler``, ``batch``, ``tasks``).
        batch_size: children per batch task.
        ending: the driver's between-generations check.
        on_state: called with every new state (the driver's latest, for its endings).
        shards: tasks per evaluation when only that many evaluations share the farm.
        spread: about how many evaluate tasks the farm runs at once: the last
            ``spread`` births are split (the farm drains instead of idling).
        tracker_for: makes the tracker of a campaign view (nursery stages, samples);
            needed with ``evolution.nursery`` or ``evolution.noise``.
        noise: the campaign's noise-aware acceptance (``evolution.noise``), or None.
    """

    def __init__(
        self,
        store: PopulationStore,
        campaign: Campaign,
        *,
        tracker: WorkTracker,
        waiter: Waiter,
        checkpoints: Checkpointer,
        breeder: LocalBreeder | None,
        breeding: Breeding,
        batch_size: int,
        ending: Ending,
        on_state: Callable[[EvolutionState], None],
        shards: Callable[[int], int] = lambda _: 1,
        spread: int = 0,
        tracker_for: TrackerFor | None = None,
        noise: FarmNoise | None = None,
    ) -> None:
        self.store = store
        self.campaign = campaign
        self.cid = campaign.id
        self.tracker = tracker
        self.waiter = waiter
        self.checkpoints = checkpoints
        self.breeder = breeder
        self.breeding = breeding
        self.batch_size = batch_size
        self.ending = ending
        self.on_state = on_state
        self.shards = shards
        self.spread = spread
        self.total = campaign.spec.evolution.generations * campaign.spec.evolution.lam
        self.lam = campaign.spec.evolution.lam
        self.open: dict[int, _Open] = {}
        self.evals = Pending()
        self.waiting: dict[str, int] = {}
        self.new_ids: list[str] = []
        self.since = 0
        self.births = 0
        self._stored: dict[int, dict[int, BreedTask]] = {}
        # Births whose task was planned by an earlier run (their breed result may be stored).
        self._restored: set[int] = set()
        spec = campaign.spec
        nursery = spec.evolution.nursery
        if (nursery is not None or noise is not None) and tracker_for is None:
            raise ValueError("a steady campaign with a nursery or noise needs tracker_for")
        #: One level per nursery stage, lowest fidelity first.
        self.stages: list[Level] = []
        if nursery is not None and tracker_for is not None:
            for fidelity in nursery.fidelities(spec.fidelity):
                view = replace(campaign, fidelity=fidelity_key(fidelity))
                self.stages.append(Level(tracker_for(view)))
        #: Resample jobs (``evolution.noise``), or None.
        self.resamples: Resamples | None = None
        if noise is not None and tracker_for is not None:
            self.resamples = Resamples(noise, campaign, tracker_for, tracker.genomes)
        #: The latest state (the driver reads it when the campaign ends mid-way).
        self.state: EvolutionState | None = None

    # ---- the loop -----------------------------------------------------------------

    def run(self, state: EvolutionState) -> EvolutionState:
        """Run from ``state`` (a checkpoint) until the search ends; return the last checkpoint.

        Raises:
            Ended: the evaluation cap stops the campaign (after its last
                checkpoint), it was killed, cancelled, or a task failed for good.
            LeaseLost: another scheduler took the campaign over.
            StoreError: the store failed.
        """
        memo = state.steady or SteadyMemo()
        self.state = state.model_copy(update={"steady": memo})
        self.births = memo.births
        total = self.total
        if self.resamples is not None:
            # The checkpoint's job (or the one due right after it) before any birth is told,
            # as the run that wrote it had it; its open births count against the cap.
            cap = len(memo.open)
            self.state = self.resamples.resume(
                self.state, lambda more: self._cap(cap + self._busy() + more)
            )
            self._job_done()
        self._start([self._stored_task(b) for b in memo.open], restored=True)
        self._noise_check()
        stop: tuple[Status, str] | None = None
        capped: str | None = None
        while True:
            planned: list[BreedTask] = []
            while stop is None and self._busy() + len(planned) < self.lam and self.births < total:
                # Every open birth may still send one evaluation (breeding ones
                # too), so they all count against the hard cap, as resamples out do.
                capped = self._cap(self._busy() + len(planned) + 1)
                if capped is not None:
                    stop = (Status.STOPPED, capped)
                    break
                planned.append(self._plan())
                if self._start_now(planned[-1]):
                    self._start(planned)
                    planned = []
            self._start(planned)
            if self.resamples is not None and self.resamples.capped and stop is None:
                capped = self.resamples.capped
                stop = (Status.STOPPED, capped)
            if not self.open and self._job() is None:
                break
            self._wait_one()
            # With no birth open only the job's samples can arrive: the contest
            # they decide belongs to this generation (as in the loop).
            if self.since >= self.lam and (self._job() is None or self.open):
                stop = self._checkpoint() or stop
            elif stop is None and self._target_reached():
                stop = (Status.COMPLETED, "target reached")
        if self.since:
            self._checkpoint(closing=True)
        if capped is not None:
            raise Ended(Status.STOPPED, capped)
        return self.state

    def _target_reached(self) -> bool:
        target = self.campaign.spec.evolution.target_fitness
        best = self.state.best if self.state else None
        return target is not None and best is not None and best.fitness >= target

    def _last_generation(self) -> bool:
        """Whether the campaign ends at the current state (no elites' resample after it)."""
        assert self.state is not None
        generations = self.campaign.spec.evolution.generations
        return self.state.generation >= generations or self._target_reached()

    def _cap(self, more: int) -> str | None:
        if self.campaign.spec.budgets.max_evaluations is None:
            return None
        return budgets.evaluations_exceeded(self.store, self.cid, self.campaign.spec.budgets, more)

    def _busy(self) -> int:
        """Slots taken: open births and resample tasks out."""
        return len(self.open) + (self.resamples.busy if self.resamples is not None else 0)

    def _job(self) -> dict[str, int] | None:
        return self.resamples.job if self.resamples is not None else None

    def _levels(self) -> list[Level]:
        samples = self.resamples.levels.values() if self.resamples is not None else ()
        return [*self.stages, *samples]

    def _checkpoint(self, *, closing: bool = False) -> tuple[Status, str] | None:
        """Checkpoint the births told so far; then whether the campaign ends.

        Args:
            closing: the run is over (no elites' resample is started after it).
        """
        assert self.state is not None
        evaluations = self.tracker.evaluations(self.new_ids)
        self.state = close_generation(self.state, self.births, list(self.open))
        written = self.state
        if self.resamples is not None:
            # The job out and the elites due go in the checkpoint (none after the last generation).
            due = not closing and not self._last_generation()
            written = self.resamples.recorded(self.state, elites=due)
        self.checkpoints.write(written, self.new_ids, evaluations)
        self.new_ids, self.since = [], 0
        self.tracker.clear_caches()
        for level in self._levels():
            level.tracker.clear_caches()
        self.on_state(self.state)
        ending = self.ending(self.state)
        if ending is None and not closing:
            self._noise_check(elites=True)
        return ending

    # ---- births -------------------------------------------------------------------

    def _stored_task(self, birth: int) -> BreedTask:
        """Birth ``birth``'s stored task (KeyError: none stored)."""
        generation, slot = birth_slot(birth, self.lam)
        if generation not in self._stored:
            docs = self.store.task_results(self.cid, generation, STEADY)
            self._stored[generation] = {s: BreedTask.model_validate(d) for s, d in docs.items()}
        return self._stored[generation][slot]

    def _plan(self) -> BreedTask:
        """The next birth's task: the one stored before an interruption, or a new one."""
        assert self.state is not None
        birth = self.births
        generation, slot = birth_slot(birth, self.lam)
        try:
            task = self._stored_task(birth)
            self._restored.add(birth)
        except KeyError:
            task = plan_birth(self.state, self.campaign.spec, birth)
            doc = task.model_dump(mode="json")
            self.store.put_task_result(self.cid, generation, STEADY, slot, doc)
        self.births += 1
        return task

    def _start_now(self, task: BreedTask) -> bool:
        """Whether a just-planned birth opens at once rather than with the rest of the fill.

        A child made here goes out before the next birth is planned: the first
        fill of a campaign (``lambda`` births) would otherwise keep every slot
        waiting on all of its planning. Breed tasks are sent together (batches
        stay full), and so are restored births (one read of their stored results).
        """
        return self.breeder is not None and self._birth(task) not in self._restored

    def _birth(self, task: BreedTask) -> int:
        return (task.generation - 1) * self.lam + task.slot

    def _start(self, tasks: list[BreedTask], *, restored: bool = False) -> None:
        """Open these births: reuse stored breed results, breed the rest here or on workers."""
        made: list[tuple[BreedTask, BreedResult]] = []
        fresh: list[BreedTask] = []
        stored: dict[int, dict[int, JSONDoc]] = {}
        for task in tasks:
            birth = self._birth(task)
            self.open[birth] = _Open(task)
            doc = None
            if restored or birth in self._restored:
                if task.generation not in stored:
                    stored[task.generation] = self.store.task_results(
                        self.cid, task.generation, work.BREED
                    )
                doc = stored[task.generation].get(task.slot)
            if doc is not None:
                made.append((task, BreedResult.model_validate(doc)))
            else:
                fresh.append(task)
        cheap, single = partition(fresh, self.breeding)
        self.tracker.send_breeds(single)
        if self.breeding == "batch":
            self.tracker.send_breed_batches(cheap, self.batch_size)
        if self.breeder is not None:
            local = cheap
            for task, (result, child) in zip(local, self.breeder.breed_each(local), strict=True):
                if child is not None:
                    self.tracker.cache_genome(child)
                self._settle(self._birth(task), result)  # its evaluation goes out now
        for task, result in made:
            self._settle(self._birth(task), result)

    def _settle(self, birth: int, result: BreedResult) -> None:
        """A birth's child is known: tell it now (discarded, duplicate, evaluated) or send it."""
        assert self.state is not None
        entry = self.open[birth]
        entry.result = result
        gid = result.genome
        if gid is None or self._in_flight(gid) or gid in {m.id for m in self.state.population}:
            self._tell(birth, None)
        elif gid in self.tracker.known:
            self._evaluated(gid, birth)
        else:
            self._to_stage(birth, gid, 0)

    def _in_flight(self, gid: str) -> bool:
        """Whether a child still in flight is ``gid`` (at any stage)."""
        return gid in self.waiting or any(gid in level.waiting for level in self.stages)

    def _to_stage(self, birth: int, gid: str, stage: int) -> None:
        """Send ``gid``'s evaluation at nursery stage ``stage`` (past the last: the full one)."""
        generation = self.open[birth].task.generation
        if stage == len(self.stages):
            self.waiting[gid] = birth
            shards = self._tail_shards(birth)
            self.tracker.send_evaluations(self.evals, [gid], generation, shards=shards)
            return
        level = self.stages[stage]
        if gid in level.tracker.known:  # stored by an earlier run, or bred before
            self._staged(birth, gid, stage)
            return
        level.waiting[gid] = birth
        level.tracker.send_evaluations(level.pending, [gid], generation)

    def _staged(self, birth: int, gid: str, stage: int) -> None:
        """``gid``'s stage result is stored: promote it a stage, or cull it (its slot frees)."""
        assert self.state is not None
        nursery = self.campaign.spec.evolution.nursery
        assert nursery is not None  # there are stages
        evaluation = self.stages[stage].tracker.evaluations([gid])[gid]
        genome = self.tracker.genomes([gid])[gid]
        member = member_of(genome, evaluation, self.campaign.spec.fitness, genes=False)
        memo = self.state.steady or SteadyMemo()
        promote = nursery.stages[stage].promote
        promoted, memo = stage_verdict(memo, stage, member, promote, self.lam)
        self.state = self.state.model_copy(update={"steady": memo})
        if promoted:
            self._to_stage(birth, gid, stage + 1)
        else:
            self._tell(birth, None, culled=True)

    def _tail_shards(self, birth: int) -> int:
        """Tasks for birth ``birth``'s evaluation: split among the campaign's last ``spread``.

        With ``n`` births after it, about ``n + 1`` evaluations share the farm at
        the end, so the very last evaluations are split finest.
        """
        after = self.total - 1 - birth
        return self.shards(after + 1) if 0 <= after < self.spread else 1

    def _evaluated(self, gid: str, birth: int) -> None:
        genome = self.tracker.genomes([gid])[gid]
        evaluation = self.tracker.evaluations([gid])[gid]
        self._tell(birth, (genome, evaluation))

    def _tell(
        self, birth: int, child: tuple[Genome, Evaluation] | None, *, culled: bool = False
    ) -> None:
        assert self.state is not None
        entry = self.open.pop(birth)
        assert entry.result is not None
        before = self.state
        spec = self.campaign.spec
        self.state = tell_birth(self.state, entry.result, spec, child, culled=culled)
        if self.resamples is not None:
            self.state = hold_crown(before, self.state, spec.evolution.archive_size)
        gid = child[0].id if child is not None else None
        # One row per stored evaluation: a child rejected at its tell (worse than the
        # whole population) may be bred by another birth whose result comes later;
        # that birth is told with the same evaluation (as the loop does), before or
        # after this window's checkpoint.
        if gid is not None and gid not in self.checkpoints.in_history and gid not in self.new_ids:
            self.new_ids.append(gid)
        self.since += 1
        self.on_state(self.state)
        self._noise_check()

    # ---- resamples (evolution.noise) ----------------------------------------------

    def _noise_check(self, *, elites: bool = False) -> None:
        """Start the resample job due now (:mod:`~evofarm.campaign.scheduler.steady_resamples`)."""
        if self.resamples is None or self.state is None:
            return
        self.resamples.start(self.state, lambda more: self._cap(self._busy() + more), elites=elites)
        self._job_done()

    def _job_done(self) -> None:
        """Once the job's samples are all stored: take the crowned state, then look again."""
        if self.resamples is None or self.state is None:
            return
        settled = self.resamples.finish(self.state)
        if settled is not None:
            self.state = settled
            self.on_state(settled)
            self._noise_check()

    # ---- waiting ------------------------------------------------------------------

    def _wait_one(self) -> None:
        """Block for one completion event (or ``wait_s``) and settle it."""
        waiter, tracker = self.waiter, self.tracker
        if waiter.lease.due():
            waiter.renew_lease()
        event = self.store.wait_event(self.cid, lifecycle.EVENTS, waiter.wait_s)
        if event is None:
            self._on_quiet()
            return
        kind = event.get("type")
        if kind == work.BREED:
            generation, slot = event.get("generation"), event.get("slot")
            if not isinstance(generation, int) or not isinstance(slot, int):
                return
            birth = (generation - 1) * self.lam + slot
            entry = self.open.get(birth)
            if entry is None or entry.result is not None or entry.task.generation != generation:
                return
            child = event.get("child")
            if isinstance(child, dict):
                tracker.cache_genome(Genome.model_validate(child))
            tracker.last_progress = tracker.clock()
            self._settle(birth, BreedResult.model_validate(event.get("result")))
        elif kind == work.EVALUATED:
            gid = event.get("genome")
            tracker.on_evaluated_event(self.evals, event)
            if isinstance(gid, str) and gid in self.waiting and gid not in self.evals.evals:
                self._evaluated(gid, self.waiting.pop(gid))
            for level in self._levels():
                level.tracker.on_evaluated_event(level.pending, event)
            self._settle_levels()
        elif kind == work.TASK_FAILED:
            raise Ended(Status.FAILED, f"{event.get('task')}: {event.get('error')}")
        elif kind in WAKE_UPS:
            waiter.check_alive()

    def _on_quiet(self) -> None:
        """No event for ``wait_s``: renew the lease, honour kill/cancel, recheck the store."""
        waiter, tracker = self.waiter, self.tracker
        waiter.renew_lease()
        waiter.check_alive()
        if waiter.on_quiet is not None:
            waiter.on_quiet()  # the driver's housekeeping (dead workers' reservations)
        tracker.reconcile(self.evals, 0, pipelined=False)
        for gid in [g for g in self.waiting if g not in self.evals.evals]:
            self._evaluated(gid, self.waiting.pop(gid))
        for level in self._levels():
            level.tracker.reconcile(level.pending, 0, pipelined=False)
        self._settle_levels()
        unbred = [e.task for e in self.open.values() if e.result is None]
        for generation in sorted({t.generation for t in unbred}):
            stored = self.store.task_results(self.cid, generation, work.BREED)
            for task in unbred:
                if task.generation == generation and task.slot in stored:
                    self._settle(self._birth(task), BreedResult.model_validate(stored[task.slot]))
        quiet_s = tracker.clock() - tracker.last_progress
        if waiter.stall_s is not None and quiet_s > waiter.stall_s:
            tracker.resend(self.evals)
            for level in self._levels():
                level.tracker.resend(level.pending)
            tracker.send_breeds([e.task for e in self.open.values() if e.result is None])

    def _settle_levels(self) -> None:
        """Act on stage results and resamples now stored."""
        for stage, level in enumerate(self.stages):
            for gid in [g for g in level.waiting if g not in level.pending.evals]:
                self._staged(level.waiting.pop(gid), gid, stage)
        self._job_done()
