"""In-memory :class:`~evofarm.store.base.PopulationStore`, for one process.

Thread-safe: one lock guards everything and a condition wakes event waiters.
Documents are kept as canonical JSON text, exactly like the Redis backend, so a
caller mutating a dict after storing it changes nothing and a document that is
not JSON fails here as it would there.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from evofarm import keys
from evofarm.errors import StoreError
from evofarm.store.base import (
    COUNTER_CASE_RUNS,
    COUNTER_COST,
    COUNTER_DUPLICATES,
    COUNTER_EVALUATIONS,
    COUNTER_FAILURES,
    COUNTER_TOKENS,
    STATUS_SUBMITTED,
    CampaignRecord,
    Checkpoint,
    EvalKey,
    JSONDoc,
    RecordOutcome,
    canonical_json,
    decode_object,
    genome_id_of,
    task_id_list,
)
from evofarm.store.registry import StoreBackend, register_store


@dataclass
class _Campaign:
    spec: str
    status: str
    reason: str
    created_at: float
    updated_at: float
    info: dict[str, str] = field(default_factory=dict)
    genomes: dict[str, str] = field(default_factory=dict)
    evaluations: dict[EvalKey, str] = field(default_factory=dict)
    lineage: set[str] = field(default_factory=set)
    checkpoints: dict[int, str] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    museum: dict[str, str] = field(default_factory=dict)
    results: dict[tuple[int, str], dict[int, str]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    limits: dict[str, int] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    crossed: str | None = None
    inflight: set[str] = field(default_factory=set)
    events: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    lease: tuple[str, float] | None = None


class MemoryStore:
    """A :class:`PopulationStore` held in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._campaigns: dict[str, _Campaign] = {}

    def _get(self, campaign: str) -> _Campaign:
        keys.check_campaign_id(campaign)
        found = self._campaigns.get(campaign)
        if found is None:
            # Writes to an unknown campaign create its data lazily, as Redis does;
            # only the campaign record itself needs create_campaign.
            found = _Campaign(spec="{}", status="", reason="", created_at=0.0, updated_at=0.0)
            self._campaigns[campaign] = found
        return found

    def _record(self, campaign: str, c: _Campaign) -> CampaignRecord:
        return CampaignRecord(
            id=campaign,
            spec=decode_object(c.spec, "campaign spec"),
            status=c.status,
            reason=c.reason,
            created_at=c.created_at,
            updated_at=c.updated_at,
            info=dict(c.info),
        )

    # ---- campaigns -------------------------------------------------------

    def create_campaign(
        self,
        campaign: str,
        spec: JSONDoc,
        *,
        status: str = STATUS_SUBMITTED,
        info: Mapping[str, str] | None = None,
    ) -> CampaignRecord:
        text = canonical_json(spec)
        with self._lock:
            c = self._get(campaign)
            if c.status:
                raise StoreError(f"campaign {campaign!r} already exists")
            now = time.time()
            c.spec, c.status, c.reason = text, status, ""
            c.created_at = c.updated_at = now
            c.info.update(info or {})
            return self._record(campaign, c)

    def get_campaign(self, campaign: str) -> CampaignRecord | None:
        with self._lock:
            c = self._campaigns.get(keys.check_campaign_id(campaign))
            if c is None or not c.status:
                return None
            return self._record(campaign, c)

    def list_campaigns(self) -> list[CampaignRecord]:
        with self._lock:
            found = [(c.created_at, cid) for cid, c in self._campaigns.items() if c.status]
            return [self._record(cid, self._campaigns[cid]) for _, cid in sorted(found)]

    def get_status(self, campaign: str) -> str | None:
        with self._lock:
            c = self._campaigns.get(keys.check_campaign_id(campaign))
            return c.status if c is not None and c.status else None

    def get_info(self, campaign: str, name: str) -> str | None:
        with self._lock:
            c = self._campaigns.get(keys.check_campaign_id(campaign))
            return c.info.get(name) if c is not None else None

    def transition(
        self, campaign: str, allowed_from: Collection[str], to: str, reason: str
    ) -> bool:
        with self._lock:
            c = self._campaigns.get(keys.check_campaign_id(campaign))
            if c is None or not c.status:
                raise StoreError(f"no campaign {campaign!r}")
            if c.status not in allowed_from:
                return False
            c.status, c.reason, c.updated_at = to, reason, time.time()
            return True

    def update_info(self, campaign: str, fields: Mapping[str, str]) -> None:
        with self._lock:
            self._get(campaign).info.update(fields)

    def delete_campaign(self, campaign: str) -> None:
        with self._lock:
            self._campaigns.pop(keys.check_campaign_id(campaign), None)

    # ---- genomes ---------------------------------------------------------

    def put_genome(self, campaign: str, doc: JSONDoc) -> bool:
        gid, text = genome_id_of(doc), canonical_json(doc)
        with self._lock:
            genomes = self._get(campaign).genomes
            if gid in genomes:
                return False
            genomes[gid] = text
            return True

    def get_genome(self, campaign: str, genome_id: str) -> JSONDoc | None:
        return self.get_genomes(campaign, [genome_id])[0]

    def get_genomes(self, campaign: str, genome_ids: Sequence[str]) -> list[JSONDoc | None]:
        with self._lock:
            genomes = self._get(campaign).genomes
            texts = [genomes.get(gid) for gid in genome_ids]
        return [None if t is None else decode_object(t, "genome") for t in texts]

    def genome_ids(self, campaign: str) -> set[str]:
        with self._lock:
            return set(self._get(campaign).genomes)

    # ---- evaluations -----------------------------------------------------

    def record_evaluation(
        self,
        campaign: str,
        key: EvalKey,
        doc: JSONDoc,
        *,
        tokens: int = 0,
        cost_micro_usd: int = 0,
        failed: bool = False,
        case_runs: int = 0,
        partial: bool = False,
    ) -> RecordOutcome:
        text = canonical_json(doc)
        keys.evaluation(campaign, key.genome_id, key.suite_id, key.fidelity)  # validates parts
        with self._lock:
            c = self._get(campaign)
            recorded = key not in c.evaluations
            if recorded:
                c.evaluations[key] = text
                if not partial:
                    c.counters[COUNTER_EVALUATIONS] += 1
                c.counters[COUNTER_TOKENS] += int(tokens)
                c.counters[COUNTER_COST] += int(cost_micro_usd)
                if case_runs:
                    c.counters[COUNTER_CASE_RUNS] += int(case_runs)
                if failed and not partial:
                    c.counters[COUNTER_FAILURES] += 1
            else:
                c.counters[COUNTER_DUPLICATES] += 1
            for name in sorted(c.limits):
                if c.crossed is None and c.counters.get(name, 0) >= c.limits[name]:
                    c.crossed = name
            return RecordOutcome(recorded=recorded, crossed_budget=c.crossed)

    def get_evaluation(self, campaign: str, key: EvalKey) -> JSONDoc | None:
        return self.get_evaluations(campaign, [key])[0]

    def get_evaluations(self, campaign: str, keys_: Sequence[EvalKey]) -> list[JSONDoc | None]:
        with self._lock:
            evaluations = self._get(campaign).evaluations
            texts = [evaluations.get(k) for k in keys_]
        return [None if t is None else decode_object(t, "evaluation") for t in texts]

    def evaluation_keys(self, campaign: str) -> set[EvalKey]:
        with self._lock:
            return set(self._get(campaign).evaluations)

    # ---- lineage, checkpoints, history, museum ----------------------------

    def add_lineage(self, campaign: str, edges: Iterable[JSONDoc]) -> int:
        texts = [canonical_json(e) for e in edges]
        with self._lock:
            lineage = self._get(campaign).lineage
            before = len(lineage)
            lineage.update(texts)
            return len(lineage) - before

    def lineage(self, campaign: str) -> list[JSONDoc]:
        with self._lock:
            texts = sorted(self._get(campaign).lineage)
        return [decode_object(t, "lineage edge") for t in texts]

    def save_checkpoint(
        self,
        campaign: str,
        generation: int,
        state: JSONDoc,
        history: Sequence[JSONDoc] = (),
    ) -> bool:
        text = canonical_json(state)
        entries = [canonical_json(h) for h in history]
        with self._lock:
            c = self._get(campaign)
            if generation in c.checkpoints:
                return False
            c.checkpoints[int(generation)] = text
            c.history.extend(entries)
            return True

    def load_checkpoint(self, campaign: str, generation: int | None = None) -> Checkpoint | None:
        with self._lock:
            checkpoints = self._get(campaign).checkpoints
            if not checkpoints:
                return None
            gen = max(checkpoints) if generation is None else generation
            text = checkpoints.get(gen)
        return None if text is None else Checkpoint(gen, decode_object(text, "checkpoint"))

    def append_history(self, campaign: str, entries: Sequence[JSONDoc]) -> None:
        texts = [canonical_json(e) for e in entries]
        with self._lock:
            self._get(campaign).history.extend(texts)

    def read_history(self, campaign: str, start: int = 0) -> list[JSONDoc]:
        with self._lock:
            texts = list(self._get(campaign).history)[max(0, start) :]
        return [decode_object(t, "history entry") for t in texts]

    def add_to_museum(self, campaign: str, entry_id: str, doc: JSONDoc) -> bool:
        text = canonical_json(doc)
        with self._lock:
            museum = self._get(campaign).museum
            if entry_id in museum:
                return False
            museum[entry_id] = text
            return True

    def museum(self, campaign: str) -> list[JSONDoc]:
        with self._lock:
            museum = self._get(campaign).museum
            texts = [museum[k] for k in sorted(museum)]
        return [decode_object(t, "museum entry") for t in texts]

    def put_task_result(
        self, campaign: str, generation: int, kind: str, slot: int, doc: JSONDoc
    ) -> bool:
        text = canonical_json(doc)
        keys.task_results(campaign, generation, kind)  # validates the parts
        with self._lock:
            results = self._get(campaign).results[(int(generation), kind)]
            if int(slot) in results:
                return False
            results[int(slot)] = text
            return True

    def task_results(self, campaign: str, generation: int, kind: str) -> dict[int, JSONDoc]:
        with self._lock:
            results = dict(self._get(campaign).results.get((int(generation), kind), {}))
        return {slot: decode_object(t, "task result") for slot, t in sorted(results.items())}

    # ---- counters and budgets ---------------------------------------------

    def add_counters(self, campaign: str, amounts: Mapping[str, int]) -> dict[str, int]:
        with self._lock:
            counters = self._get(campaign).counters
            for name, amount in amounts.items():
                counters[name] += int(amount)
            return dict(counters)

    def counters(self, campaign: str) -> dict[str, int]:
        with self._lock:
            return dict(self._get(campaign).counters)

    def set_budgets(self, campaign: str, limits: Mapping[str, int]) -> None:
        with self._lock:
            self._get(campaign).limits = {k: int(v) for k, v in limits.items()}

    def budgets(self, campaign: str) -> dict[str, int]:
        with self._lock:
            return dict(self._get(campaign).limits)

    def reserve(self, campaign: str, name: str, amount: int) -> bool:
        with self._lock:
            c = self._get(campaign)
            limit = c.limits.get(name)
            if limit is not None and c.reserved[name] + amount > limit:
                return False
            c.reserved[name] += int(amount)
            return True

    def reserved(self, campaign: str) -> dict[str, int]:
        with self._lock:
            return dict(self._get(campaign).reserved)

    def mark_budget_crossed(self, campaign: str, name: str) -> str:
        with self._lock:
            c = self._get(campaign)
            if c.crossed is None:
                c.crossed = name
            return c.crossed

    def crossed_budget(self, campaign: str) -> str | None:
        with self._lock:
            return self._get(campaign).crossed

    # ---- in-flight tasks, events, lease -----------------------------------

    def add_inflight(self, campaign: str, task_ids: Iterable[str]) -> None:
        with self._lock:
            self._get(campaign).inflight.update(task_id_list(task_ids))

    def remove_inflight(self, campaign: str, task_ids: Iterable[str]) -> None:
        with self._lock:
            self._get(campaign).inflight.difference_update(task_id_list(task_ids))

    def inflight(self, campaign: str) -> set[str]:
        with self._lock:
            return set(self._get(campaign).inflight)

    def push_event(self, campaign: str, channel: str, doc: JSONDoc) -> None:
        text = canonical_json(doc)
        keys.events(campaign, channel)  # validates the channel name
        with self._wake:
            self._get(campaign).events[channel].append(text)
            self._wake.notify_all()

    def wait_event(self, campaign: str, channel: str, timeout: float) -> JSONDoc | None:
        keys.events(campaign, channel)
        deadline = time.monotonic() + timeout
        with self._wake:
            queue = self._get(campaign).events[channel]
            while not queue:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._wake.wait(remaining)
            text = queue.popleft()
        return decode_object(text, "event")

    def acquire_lease(self, campaign: str, owner: str, ttl_s: float) -> bool:
        with self._lock:
            c = self._get(campaign)
            now = time.monotonic()
            if c.lease is not None and c.lease[0] != owner and c.lease[1] > now:
                return False
            c.lease = (owner, now + ttl_s)
            return True

    def release_lease(self, campaign: str, owner: str) -> None:
        with self._lock:
            c = self._get(campaign)
            if c.lease is not None and c.lease[0] == owner:
                c.lease = None


def _open(url: str) -> MemoryStore:
    """A fresh, empty store for ``memory://`` (the URL carries nothing else)."""
    del url
    return MemoryStore()


# One process only: the farm refuses it (no open_shared).
register_store(("memory",), StoreBackend(open=_open))
