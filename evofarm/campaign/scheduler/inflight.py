"""The scheduler's work in flight: sending it, settling it, re-sending it.

Everything here is rebuilt from the store when a scheduler starts: what is
pending is whatever the re-planned generation needs and the store does not
hold yet. Sending is idempotent on the worker side, so re-sending silent work
(:meth:`WorkTracker.resend`) can never make anything count twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from evofarm.campaign.bundle import Campaign
from evofarm.campaign.scheduler.dispatcher import Dispatcher, new_task_id
from evofarm.campaign.worker import work
from evofarm.errors import StoreError
from evofarm.evolution.engine import BreedResult, BreedTask, to_evaluate
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.fitness.runner import select_cases
from evofarm.store.base import EvalKey, PopulationStore

log = logging.getLogger(__name__)

_W = TypeVar("_W")


@dataclass
class Pending:
    """What one wait is waiting for.

    Attributes:
        breed: breed tasks without a result yet, by slot.
        evals: evaluations sent and not yet stored, by genome id.
        results: the generation's breed results so far, by slot.
    """

    breed: dict[int, BreedTask] = field(default_factory=dict)
    evals: dict[str, work.EvalRequest] = field(default_factory=dict)
    results: dict[int, BreedResult] = field(default_factory=dict)

    def done(self) -> bool:
        """Whether nothing is left to wait for."""
        return not self.breed and not self.evals


class WorkTracker:
    """Sends one campaign's work and tracks what of it the store holds.

    Args:
        store: the population store (shared with the workers).
        dispatcher: sends the work.
        campaign: the decoded campaign (its suite and fidelity key evaluations).
        clock: monotonic seconds (for progress).
        turnarounds_ms: where to append each turnaround measured (see below).
        sent_ids: where to keep the ids sent and not yet cleared (shared by the
            trackers of one scheduler across recoveries).

    The store's in-flight set (what ``kill`` revokes) holds exactly the work
    still pending: ids are added before sending, and once a wait has nothing
    pending every id sent so far (re-sent duplicates, messages lost with a
    broker, a dead scheduler's leftovers) is cleared.
    """

    def __init__(
        self,
        store: PopulationStore,
        dispatcher: Dispatcher,
        campaign: Campaign,
        clock: Callable[[], float] = time.monotonic,
        *,
        turnarounds_ms: list[float] | None = None,
        sent_ids: list[str] | None = None,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.campaign = campaign
        self.campaign_id = campaign.id
        self.clock = clock
        #: Genomes with an evaluation in the store (for this suite and fidelity).
        self.known: set[str] = {
            k.genome_id
            for k in store.evaluation_keys(campaign.id)
            if (k.suite_id, k.fidelity) == (campaign.suite_id, campaign.fidelity)
        }
        #: Cases one evaluation runs (its fidelity subset): what a split divides.
        self.cases = len(select_cases(campaign.suite, campaign.spec.fidelity))
        #: When a breed or evaluation result last arrived (or work was re-sent).
        self.last_progress = clock()
        #: Milliseconds from the last result of a generation to the first task of
        #: the next (the scheduler's own overhead between generations).
        self.turnarounds_ms = [] if turnarounds_ms is None else turnarounds_ms
        self.sent_ids = [] if sent_ids is None else sent_ids
        # A previous scheduler's ids (killed, or cut off by an outage): they are
        # settled, re-sent or lost by the time this one's first wait is done.
        known_ids = set(self.sent_ids)
        self.sent_ids.extend(sorted(store.inflight(campaign.id) - known_ids))
        self._last_result_at: float | None = None
        # Documents that came with completion events, so selection does not wait
        # on reading them back (cleared every generation).
        self._genome_cache: dict[str, Genome] = {}
        self._eval_cache: dict[str, Evaluation] = {}
        #: Genomes whose evaluation arrived (with an event or read) ending ``ok``;
        #: kept for the campaign's ending, which then reads back only the others.
        self.seen_ok: set[str] = set()

    # ---- sending -----------------------------------------------------------------

    def _dispatch(self, items: Sequence[_W], send: Callable[[_W, str], None]) -> None:
        """Register fresh task ids as in flight (one store write), then send each item."""
        if not items:
            return
        ids = [new_task_id() for _ in items]
        self.store.add_inflight(self.campaign_id, ids)
        self.sent_ids.extend(ids)
        for item, task_id in zip(items, ids, strict=True):
            send(item, task_id)
            self._turnaround()

    def _turnaround(self) -> None:
        """Time the turnaround up to the first task out after a generation's last result."""
        if self._last_result_at is not None:
            self.turnarounds_ms.append((time.perf_counter() - self._last_result_at) * 1000)
            self._last_result_at = None

    def send_breeds(self, tasks: Sequence[BreedTask]) -> None:
        """Send breed tasks."""
        self._dispatch(tasks, self.dispatcher.send_breed)

    def send_breed_batches(self, tasks: Sequence[BreedTask], size: int) -> None:
        """Send non-LLM breed tasks ``size`` to a task (their results come as breed events)."""
        chunks = [list(tasks[i : i + size]) for i in range(0, len(tasks), size)]
        self._dispatch(chunks, self.dispatcher.send_breed_batch)

    def send_genesis(self) -> None:
        """Send the campaign's genesis task (it signals a ``genesis`` event)."""
        self._dispatch([self.campaign_id], self.dispatcher.send_genesis)

    def cache_genome(self, genome: Genome) -> None:
        """Keep a genome that arrived with a result, so it is not read back."""
        self._genome_cache.setdefault(genome.id, genome)

    def settle_local(
        self, pending: Pending, made: Sequence[tuple[BreedResult, Genome | None]]
    ) -> None:
        """Record breed results made in the scheduler (their children ``None`` or stored first)."""
        for result, child in made:
            if child is not None:
                self.cache_genome(child)
            pending.results[result.slot] = result
            pending.breed.pop(result.slot, None)
        self.last_progress = self.clock()

    def send_evaluations(
        self, pending: Pending, genome_ids: Iterable[str], generation: int, *, shards: int = 1
    ) -> None:
        """Send evaluations of those genomes not stored and not already pending.

        Args:
            shards: split each into this many tasks of its cases
                (:mod:`~evofarm.campaign.worker.shards`); 1: one task each.
        """
        requests = [
            work.EvalRequest(
                self.campaign_id,
                gid,
                self.campaign.suite_id,
                self.campaign.fidelity,
                generation,
                shards=max(1, shards),
            )
            for gid in genome_ids
            if gid not in self.known and gid not in pending.evals
        ]
        for request in requests:
            pending.evals[request.genome_id] = request
        self._dispatch([s for r in requests for s in r.split()], self.dispatcher.send_evaluate)

    def resend(self, pending: Pending) -> None:
        """Send everything pending again (messages may have been lost with a broker)."""
        self._dispatch(list(pending.breed.values()), self.dispatcher.send_breed)
        tasks = [s for r in pending.evals.values() for s in r.split()]
        self._dispatch(tasks, self.dispatcher.send_evaluate)
        self.last_progress = self.clock()

    def generation_done(self) -> None:
        """Note that a wait ended with nothing pending (starts the turnaround timer)."""
        self._last_result_at = time.perf_counter()
        self.clear_inflight()

    def clear_inflight(self, *, everything: bool = False) -> None:
        """Clear settled ids from the store's in-flight set (call with nothing pending).

        Args:
            everything: also clear ids this scheduler never saw (the campaign ended).
        """
        ids = set(self.sent_ids)
        if everything:
            ids |= self.store.inflight(self.campaign_id)
        # A worker clears its own id when it finishes; clearing twice is harmless.
        self.store.remove_inflight(self.campaign_id, sorted(ids))
        self.sent_ids.clear()

    # ---- settling ----------------------------------------------------------------

    def unevaluated(self, results: Iterable[BreedResult]) -> list[str]:
        """Distinct children of ``results`` with no stored evaluation, in order."""
        return to_evaluate(list(results), self.known)

    def settle_breed(
        self,
        pending: Pending,
        slot: int,
        result: BreedResult,
        generation: int,
        pipelined: bool,
    ) -> None:
        """Record a breed result; pipelined, send its child for evaluation at once."""
        pending.results[slot] = result
        del pending.breed[slot]
        if pipelined:
            self.send_evaluations(pending, self.unevaluated([result]), generation)

    def on_breed_event(
        self, pending: Pending, event: dict[str, object], generation: int, pipelined: bool
    ) -> None:
        """Settle a breed completion event (ignored unless its slot is pending)."""
        slot = event.get("slot")
        if not isinstance(slot, int) or slot not in pending.breed:
            return
        result = BreedResult.model_validate(event.get("result"))
        child = event.get("child")
        if result.genome is not None and isinstance(child, dict):
            self._genome_cache.setdefault(result.genome, Genome.model_validate(child))
        self.settle_breed(pending, slot, result, generation, pipelined)
        self.last_progress = self.clock()
        self.prefetch([result.genome])

    def on_evaluated_event(self, pending: Pending, event: dict[str, object]) -> None:
        """Settle an evaluation completion event (ignored unless its genome is pending)."""
        gid = event.get("genome")
        if not isinstance(gid, str) or gid not in pending.evals:
            return
        if event.get("fidelity", self.campaign.fidelity) != self.campaign.fidelity:
            return  # another sample (evolution.noise) or a nursery stage of the genome
        doc = event.get("evaluation")
        if isinstance(doc, dict):
            if doc.get("suite_id") != self.campaign.suite_id:
                return  # the same genome on the other split (the final phase)
            evaluation = Evaluation.model_validate(doc)
            self._eval_cache[gid] = evaluation
            if evaluation.outcome == "ok":
                self.seen_ok.add(gid)
        self.known.add(gid)
        del pending.evals[gid]
        self.last_progress = self.clock()

    def reconcile(self, pending: Pending, generation: int, pipelined: bool) -> None:
        """Settle pending work the store already holds (events may predate this scheduler)."""
        if pending.breed and generation > 0:
            stored = self.store.task_results(self.campaign_id, generation, work.BREED)
            settled = [s for s in pending.breed if s in stored]
            for slot in settled:
                result = BreedResult.model_validate(stored[slot])
                self.settle_breed(pending, slot, result, generation, pipelined)
            self.prefetch(pending.results[s].genome for s in settled)
        if pending.evals:
            ids = list(pending.evals)
            docs = self.store.get_evaluations(self.campaign_id, self._keys(ids))
            for gid, doc in zip(ids, docs, strict=True):
                if doc is not None:
                    self.known.add(gid)
                    del pending.evals[gid]

    # ---- documents ---------------------------------------------------------------

    def _keys(self, ids: Iterable[str]) -> list[EvalKey]:
        return [EvalKey(g, self.campaign.suite_id, self.campaign.fidelity) for g in ids]

    def prefetch(self, ids: Iterable[str | None]) -> None:
        """Read genomes into the cache now, while workers are busy, not between generations."""
        missing = sorted({g for g in ids if g is not None and g not in self._genome_cache})
        if missing:
            self._genome_cache.update(work.load_genomes(self.store, self.campaign_id, missing))

    def genomes(self, ids: list[str]) -> dict[str, Genome]:
        """Those genomes, from the cache or the store.

        Raises:
            StoreError: one is missing or corrupt.
        """
        found = {g: self._genome_cache[g] for g in ids if g in self._genome_cache}
        missing = [g for g in ids if g not in found]
        if missing:
            found.update(work.load_genomes(self.store, self.campaign_id, missing))
        return found

    def evaluations(self, ids: list[str]) -> dict[str, Evaluation]:
        """Those genomes' evaluations, from the cache or the store.

        Raises:
            StoreError: one is missing.
        """
        found = {g: self._eval_cache[g] for g in ids if g in self._eval_cache}
        missing = [g for g in ids if g not in found]
        if missing:
            docs = self.store.get_evaluations(self.campaign_id, self._keys(missing))
            for gid, doc in zip(missing, docs, strict=True):
                if doc is None:
                    raise StoreError(f"campaign {self.campaign_id!r}: no evaluation of {gid}")
                found[gid] = Evaluation.model_validate(doc)
        return found

    def clear_caches(self) -> None:
        """Drop the documents cached for the generation just selected."""
        self._genome_cache.clear()
        self._eval_cache.clear()
