"""The farm scheduler: drives one campaign through the engine, generation by generation.

It runs the ask/tell engine (:mod:`evofarm.evolution.engine`) exactly as the
in-process loop does (:mod:`evofarm.campaign.loop`), with the work spread over
the farm, so for the same seed the final best is the same however many workers
there were and however often the scheduler was interrupted:

1. ``plan_generation`` gives the breed tasks; each goes out as one task
   (``breed`` or ``mutate`` queue) carrying ids and small parameters.
2. Workers store each child under its content hash and signal the result.
   Unless an evaluation cap forces waiting for the whole generation (to decide
   whether it may start, as the loop does), each new distinct genome is sent for
   evaluation as soon as its breed result arrives.
3. Workers record each evaluation once and signal it; the scheduler blocks on
   the campaign's event list (BLPOP), never busy-polls, uses no chords.
4. ``select`` gives the next state, checkpointed with that generation's
   fitness-history rows in one atomic step.

The scheduler keeps nothing Redis does not: restarted, it re-plans the
generation after the last checkpoint (planning is deterministic), reuses every
stored breed result and evaluation and re-sends only what is missing. A lease
in the store keeps a second scheduler off a campaign.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from evofarm.campaign import budgets, lifecycle, work
from evofarm.campaign.bundle import Campaign, decode
from evofarm.campaign.dispatch import Dispatcher, new_task_id
from evofarm.campaign.lifecycle import Status
from evofarm.campaign.outputs import HistoryRow
from evofarm.errors import CampaignStateError, StoreError
from evofarm.evolution.engine import (
    BreedResult,
    BreedTask,
    EvolutionState,
    plan_generation,
    seed_state,
    select,
    to_evaluate,
)
from evofarm.evolution.genome import Genome
from evofarm.fitness.evaluation import Evaluation
from evofarm.store.base import EvalKey, PopulationStore

log = logging.getLogger(__name__)

#: Info fields the scheduler keeps up to date for watchers.
INFO_GENERATION = "generation"
INFO_BEST = "best_fitness"
INFO_WALL = "wall_s"
INFO_SCHEDULER = "scheduler"
#: Per-generation result kind holding the generation's wall time (for reports).
TIMING = "timing"


@dataclass(frozen=True)
class SchedulerOptions:
    """Timing of the scheduler's waits.

    Attributes:
        wait_s: longest single block on the event list; after it the scheduler
            renews its lease, rechecks the store and honours cancellation.
        lease_ttl_s: the lease expires this long after the last renewal (a
            SIGKILLed scheduler's campaign can be resumed after it).
        stall_s: with no progress for this long, missing work is sent again
            (e.g. messages lost with a broker); None: never.
        lease_wait_s: how long ``run`` waits for another scheduler's lease.
    """

    wait_s: float = 1.0
    lease_ttl_s: float = 30.0
    stall_s: float | None = None
    lease_wait_s: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """How a scheduler run ended."""

    status: str
    reason: str
    generation: int


class _Ended(Exception):
    """Internal: the campaign ended (killed, failed, interrupted) mid-generation."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Pending:
    """What one wait is waiting for (rebuilt from the store on every resume)."""

    breed: dict[int, BreedTask] = field(default_factory=dict)
    evals: dict[str, work.EvalRequest] = field(default_factory=dict)
    results: dict[int, BreedResult] = field(default_factory=dict)

    def done(self) -> bool:
        return not self.breed and not self.evals


class Scheduler:
    """Runs one campaign to its end. Use from one thread; :meth:`cancel` from any.

    Args:
        store: the population store (shared with the workers).
        dispatcher: sends the work.
        campaign: the campaign id (already submitted).
        options: wait timings.
        clock: monotonic seconds (wall-time budget).
    """

    def __init__(
        self,
        store: PopulationStore,
        dispatcher: Dispatcher,
        campaign: str,
        *,
        options: SchedulerOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.campaign_id = campaign
        self.options = options or SchedulerOptions()
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._cancel = threading.Event()
        self._started = clock()
        self._wall_before = 0.0
        # Genomes with an evaluation in the store, and those already in the
        # fitness history (evaluated in a checkpointed generation).
        self._known: set[str] = set()
        self._in_history: set[str] = set()
        self._last_progress = clock()
        self._renewed = clock()
        #: Milliseconds from the last result of a generation to the first task of
        #: the next (the scheduler's own overhead between generations).
        self.turnarounds_ms: list[float] = []
        # Documents that came with completion events, so selection does not wait
        # on reading them back (cleared every generation).
        self._genome_cache: dict[str, Genome] = {}
        self._eval_cache: dict[str, Evaluation] = {}
        self._deferred: tuple[EvolutionState, list[str], dict[str, Evaluation], float] | None = None
        self._last_result_at: float | None = None

    # ---- public --------------------------------------------------------------

    def cancel(self) -> None:
        """Ask :meth:`run` to stop at its next wake-up (the campaign ends ``stopped``)."""
        self._cancel.set()
        with contextlib.suppress(StoreError):
            self.store.push_event(self.campaign_id, lifecycle.EVENTS, {"type": "cancel"})

    def run(self) -> Outcome:
        """Run (or resume) the campaign to its end.

        Raises:
            CampaignStateError: no such campaign, it completed already, or
                another scheduler holds it.
            StoreError: the store failed.
        """
        record = lifecycle.require(self.store, self.campaign_id)
        campaign = decode(self.campaign_id, record.spec)
        self._take_lease()
        try:
            lifecycle.mark_running(self.store, self.campaign_id)
            self.store.update_info(self.campaign_id, {INFO_SCHEDULER: self.owner})
            self._wall_before = float(record.info.get(INFO_WALL) or 0.0)
            return self._run(campaign)
        finally:
            with contextlib.suppress(StoreError):
                self.store.release_lease(self.campaign_id, self.owner)

    # ---- the campaign -----------------------------------------------------------

    def _run(self, campaign: Campaign) -> Outcome:
        state: EvolutionState | None = None
        try:
            state = self._load_or_seed(campaign)
            while True:
                ended = self._between_generations(campaign, state)
                if ended is not None:
                    return self._end(*ended, state.generation)
                state = self._generation(campaign, state)
        except _Ended as ended:
            generation = state.generation if state else 0
            return self._end(ended.status, ended.reason, generation)

    def _between_generations(
        self, campaign: Campaign, state: EvolutionState
    ) -> tuple[Status, str] | None:
        """Whether (and how) the campaign ends before the next generation.

        Same order of checks as the in-process loop, then the farm's own.
        """
        self._check_alive()
        spec = campaign.spec
        target = spec.evolution.target_fitness
        if target is not None and state.best is not None and state.best.fitness >= target:
            return Status.COMPLETED, f"target fitness {target} reached"
        if state.generation >= spec.evolution.generations:
            return Status.COMPLETED, f"ran {spec.evolution.generations} generations"
        crossed = budgets.check_wall_time(
            self.store, self.campaign_id, spec.budgets, self._wall_s()
        )
        if crossed is not None:
            return Status.STOPPED, self._describe(campaign, crossed)
        if self.store.get_info(self.campaign_id, lifecycle.STOP_REQUESTED) == "1":
            return Status.STOPPED, "stopped by user"
        return None

    def _check_cap(self, campaign: Campaign, more: int) -> None:
        """End the campaign (stopped) if ``more`` evaluations would pass the hard cap."""
        reason = budgets.evaluations_exceeded(
            self.store, self.campaign_id, campaign.spec.budgets, more
        )
        if reason is not None:
            raise _Ended(Status.STOPPED, reason)

    def _load_or_seed(self, campaign: Campaign) -> EvolutionState:
        """The latest checkpoint, or the generation-0 one, made now."""
        checkpoint = self.store.load_checkpoint(self.campaign_id)
        self._known = {
            k.genome_id
            for k in self.store.evaluation_keys(self.campaign_id)
            if (k.suite_id, k.fidelity) == (campaign.suite_id, campaign.fidelity)
        }
        self._in_history = {
            str(row.get("genome")) for row in self.store.read_history(self.campaign_id)
        }
        if checkpoint is not None:
            try:
                return EvolutionState.model_validate(checkpoint.state)
            except ValidationError as exc:
                raise StoreError(f"corrupt checkpoint {checkpoint.generation}: {exc}") from exc
        seeds = list(campaign.seed_genomes)
        self._check_cap(campaign, len([g for g in seeds if g not in self._known]))
        pending = _Pending()
        self._send_evaluations(campaign, pending, seeds, generation=0)
        self._wait(campaign, pending, generation=0, pipelined=True)
        genomes = self._genomes(seeds)
        evaluations = self._evaluations(campaign, seeds)
        state = seed_state(
            campaign.spec, self.campaign_id, campaign.seed, list(genomes.values()), evaluations
        )
        self._checkpoint(state, seeds, evaluations)
        self._genome_cache.clear()
        self._eval_cache.clear()
        return state

    def _generation(self, campaign: Campaign, state: EvolutionState) -> EvolutionState:
        """Run the generation after ``state``.

        Raises:
            _Ended: the evaluation cap forbids it, or the campaign ended meanwhile.
        """
        started = self.clock()
        generation = state.generation + 1
        tasks = plan_generation(state, campaign.spec)
        pending = _Pending()
        stored = self.store.task_results(self.campaign_id, generation, work.BREED)
        for slot, doc in stored.items():
            pending.results[slot] = BreedResult.model_validate(doc)
        missing = [t for t in tasks if t.slot not in pending.results]
        pending.breed = {t.slot: t for t in missing}
        # With an evaluation cap the loop decides on the whole generation before
        # evaluating any of it; without one, evaluation starts with the first child.
        pipelined = campaign.spec.budgets.max_evaluations is None
        self._send_breeds(missing)
        if pipelined:
            self._send_evaluations(
                campaign, pending, self._new_ids(pending.results.values()), generation
            )
        self._wait(campaign, pending, generation, pipelined)
        results = [pending.results[t.slot] for t in tasks]
        if not pipelined:
            # Evaluations stored before an interruption are already counted in
            # the store, so only the rest is "more".
            to_send = to_evaluate(results, self._known)
            self._check_cap(campaign, len(to_send))
            self._send_evaluations(campaign, pending, to_send, generation)
            self._wait(campaign, pending, generation, pipelined)
        new_ids = to_evaluate(results, self._in_history)
        offspring_ids = sorted({r.genome for r in results if r.genome is not None})
        genomes = self._genomes(offspring_ids)
        evaluations = self._evaluations(campaign, offspring_ids)
        next_state = select(state, results, genomes, evaluations, campaign.spec)
        # Written once the next generation's first tasks are out (or the campaign
        # ends): workers need not wait for it, and a crash before it only means
        # re-planning this generation from stored results.
        self._deferred = (next_state, new_ids, evaluations, self.clock() - started)
        self._genome_cache.clear()
        self._eval_cache.clear()
        return next_state

    # ---- sending and waiting ------------------------------------------------------

    def _new_ids(self, results: Iterable[BreedResult]) -> list[str]:
        return to_evaluate(list(results), self._known)

    def _send_breeds(self, tasks: list[BreedTask]) -> None:
        if not tasks:
            return
        ids = [new_task_id() for _ in tasks]
        self.store.add_inflight(self.campaign_id, ids)
        for task, task_id in zip(tasks, ids, strict=True):
            self.dispatcher.send_breed(task, task_id)
            if self._last_result_at is not None:
                self.turnarounds_ms.append((time.perf_counter() - self._last_result_at) * 1000)
                self._last_result_at = None
        self._flush_checkpoint()

    def _flush_checkpoint(self) -> None:
        if self._deferred is not None:
            state, new_ids, evaluations, elapsed = self._deferred
            self.store.put_task_result(
                self.campaign_id, state.generation, TIMING, 0, {"elapsed_s": elapsed}
            )
            self._checkpoint(state, new_ids, evaluations)
            self._deferred = None

    def _send_evaluations(
        self, campaign: Campaign, pending: _Pending, genome_ids: Iterable[str], generation: int
    ) -> None:
        requests = [
            work.EvalRequest(
                self.campaign_id, gid, campaign.suite_id, campaign.fidelity, generation
            )
            for gid in genome_ids
            if gid not in self._known and gid not in pending.evals
        ]
        if not requests:
            return
        ids = [new_task_id() for _ in requests]
        self.store.add_inflight(self.campaign_id, ids)
        for request, task_id in zip(requests, ids, strict=True):
            pending.evals[request.genome_id] = request
            self.dispatcher.send_evaluate(request, task_id)

    def _wait(
        self, campaign: Campaign, pending: _Pending, generation: int, pipelined: bool
    ) -> None:
        """Block on the event list until nothing is pending (no busy polling)."""
        self._reconcile(campaign, pending, generation, pipelined)
        self._last_progress = self.clock()
        while not pending.done():
            if self.clock() - self._renewed > self.options.lease_ttl_s / 3:
                self._renew_lease()
            event = self.store.wait_event(self.campaign_id, lifecycle.EVENTS, self.options.wait_s)
            if event is None:
                self._on_quiet(campaign, pending, generation, pipelined)
                continue
            kind = event.get("type")
            if kind == work.BREED and event.get("generation") == generation:
                self._on_breed(campaign, pending, event, generation, pipelined)
            elif kind == work.EVALUATED and event.get("genome") in pending.evals:
                gid = str(event["genome"])
                doc = event.get("evaluation")
                if isinstance(doc, dict):
                    self._eval_cache[gid] = Evaluation.model_validate(doc)
                self._known.add(gid)
                pending.evals.pop(gid, None)
                self._last_progress = self.clock()
            elif kind == work.TASK_FAILED:
                raise _Ended(Status.FAILED, f"{event.get('task')}: {event.get('error')}")
            elif kind in {"kill", "cancel", "stop"}:
                self._check_alive()
        self._last_result_at = time.perf_counter()

    def _on_breed(
        self,
        campaign: Campaign,
        pending: _Pending,
        event: dict[str, object],
        generation: int,
        pipelined: bool,
    ) -> None:
        slot = event.get("slot")
        if not isinstance(slot, int) or slot not in pending.breed:
            return
        result = BreedResult.model_validate(event.get("result"))
        child = event.get("child")
        if result.genome is not None and isinstance(child, dict):
            self._genome_cache.setdefault(result.genome, Genome.model_validate(child))
        self._prefetch([result.genome])
        pending.results[slot] = result
        del pending.breed[slot]
        self._last_progress = self.clock()
        if pipelined:
            self._send_evaluations(campaign, pending, self._new_ids([result]), generation)

    def _on_quiet(
        self, campaign: Campaign, pending: _Pending, generation: int, pipelined: bool
    ) -> None:
        """No event for a while: renew the lease, honour kill/cancel, recheck the store."""
        self._renew_lease()
        self._check_alive()
        self._reconcile(campaign, pending, generation, pipelined)
        stall = self.options.stall_s
        if stall is not None and self.clock() - self._last_progress > stall and not pending.done():
            log.warning("campaign %s: no progress for %.0fs, resending", self.campaign_id, stall)
            self._send_breeds(list(pending.breed.values()))
            requests = list(pending.evals.values())
            ids = [new_task_id() for _ in requests]
            self.store.add_inflight(self.campaign_id, ids)
            for request, task_id in zip(requests, ids, strict=True):
                self.dispatcher.send_evaluate(request, task_id)
            self._last_progress = self.clock()

    def _reconcile(
        self, campaign: Campaign, pending: _Pending, generation: int, pipelined: bool
    ) -> None:
        """Settle pending work from the store (events may predate this scheduler)."""
        if pending.breed and generation > 0:
            stored = self.store.task_results(self.campaign_id, generation, work.BREED)
            settled = [s for s in pending.breed if s in stored]
            for slot in settled:
                pending.results[slot] = BreedResult.model_validate(stored[slot])
                del pending.breed[slot]
                if pipelined:
                    new = self._new_ids([pending.results[slot]])
                    self._send_evaluations(campaign, pending, new, generation)
            self._prefetch(pending.results[s].genome for s in settled)
        if pending.evals:
            ids = list(pending.evals)
            keys = [EvalKey(g, campaign.suite_id, campaign.fidelity) for g in ids]
            docs = self.store.get_evaluations(self.campaign_id, keys)
            for gid, doc in zip(ids, docs, strict=True):
                if doc is not None:
                    self._known.add(gid)
                    del pending.evals[gid]

    # ---- state, checks, endings ----------------------------------------------------

    def _prefetch(self, ids: Iterable[str | None]) -> None:
        """Read genomes into the cache now, while workers are busy, not between generations."""
        missing = sorted({g for g in ids if g is not None and g not in self._genome_cache})
        if missing:
            self._genome_cache.update(work.load_genomes(self.store, self.campaign_id, missing))

    def _genomes(self, ids: list[str]) -> dict[str, Genome]:
        found = {g: self._genome_cache[g] for g in ids if g in self._genome_cache}
        missing = [g for g in ids if g not in found]
        if missing:
            found.update(work.load_genomes(self.store, self.campaign_id, missing))
        return found

    def _evaluations(self, campaign: Campaign, ids: list[str]) -> dict[str, Evaluation]:
        found = {g: self._eval_cache[g] for g in ids if g in self._eval_cache}
        missing = [g for g in ids if g not in found]
        keys = [EvalKey(g, campaign.suite_id, campaign.fidelity) for g in missing]
        docs = self.store.get_evaluations(self.campaign_id, keys)
        for gid, doc in zip(missing, docs, strict=True):
            if doc is None:
                raise StoreError(f"campaign {self.campaign_id!r}: no evaluation of {gid}")
            found[gid] = Evaluation.model_validate(doc)
        return found

    def _checkpoint(
        self, state: EvolutionState, new_ids: list[str], evaluations: dict[str, Evaluation]
    ) -> None:
        now = time.time()
        rows = [
            HistoryRow.of(self.campaign_id, state.generation, gid, evaluations[gid], now)
            for gid in sorted(new_ids)
        ]
        self.store.save_checkpoint(
            self.campaign_id,
            state.generation,
            state.model_dump(mode="json"),
            history=[r.model_dump(mode="json") for r in rows],
        )
        self._in_history.update(new_ids)
        best = state.best
        self.store.update_info(
            self.campaign_id,
            {
                INFO_GENERATION: str(state.generation),
                INFO_BEST: repr(best.fitness) if best else "",
                INFO_WALL: repr(self._wall_s()),
            },
        )

    def _wall_s(self) -> float:
        return self._wall_before + (self.clock() - self._started)

    def _describe(self, campaign: Campaign, crossed: str) -> str:
        return budgets.describe(
            self.store, self.campaign_id, crossed, campaign.spec.budgets, self._wall_s()
        )

    def _check_alive(self) -> None:
        status = self.store.get_status(self.campaign_id)
        if status == Status.KILLED:
            raise _Ended(Status.KILLED, "killed")
        if status in lifecycle.ENDED:
            raise _Ended(Status(status), "ended elsewhere")
        if self._cancel.is_set():
            raise _Ended(Status.STOPPED, "interrupted")

    def _end(self, status: Status, reason: str, generation: int) -> Outcome:
        self._flush_checkpoint()
        # A kill (or another ending) may have won the race: report what the store says.
        if not lifecycle.end(self.store, self.campaign_id, status, reason):
            record = self.store.get_campaign(self.campaign_id)
            if record is not None:
                status, reason = Status(record.status), record.reason
        with contextlib.suppress(StoreError):
            self.store.update_info(self.campaign_id, {INFO_WALL: repr(self._wall_s())})
        return Outcome(status=str(status), reason=reason, generation=generation)

    # ---- lease -------------------------------------------------------------------

    def _take_lease(self) -> None:
        deadline = self.clock() + self.options.lease_wait_s
        while not self.store.acquire_lease(self.campaign_id, self.owner, self.options.lease_ttl_s):
            if self.clock() >= deadline:
                raise CampaignStateError(
                    f"campaign {self.campaign_id!r} is being scheduled elsewhere "
                    f"(its lease expires {self.options.lease_ttl_s:.0f}s after that "
                    "scheduler stops)"
                )
            time.sleep(min(0.5, self.options.lease_ttl_s / 10))

    def _renew_lease(self) -> None:
        if not self.store.acquire_lease(self.campaign_id, self.owner, self.options.lease_ttl_s):
            raise _Ended(Status.FAILED, "lost the scheduler lease to another scheduler")
        self._renewed = self.clock()
