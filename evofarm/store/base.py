"""The ``PopulationStore`` interface: everything a campaign keeps, in one place.

The store knows nothing of the domain types: genomes, evaluations, checkpoints,
lineage edges and museum entries are JSON documents (``dict``). Domain code
turns them into its own models (``Genome.model_validate(doc)`` ...).

Two backends implement it and pass one conformance suite
(:mod:`evofarm.testing.store_conformance`, which a third-party backend's tests
run too): :class:`~evofarm.store.memory.MemoryStore` (one process,
thread-safe) and :class:`~evofarm.store.redis.RedisStore` (shared by the
scheduler and every worker). Backends are opened by URL through
:mod:`evofarm.store.registry`. The farm needs more than this protocol: a
:class:`SharedStore` (reachable from every process, with connections to close).

Contracts every backend keeps:

* Genomes are put-if-absent by content hash: storing an identical genome twice
  is a no-op that returns ``False``.
* An evaluation is recorded at most once per (genome, suite, fidelity); the
  counters ``evaluations``, ``tokens`` and ``cost_micro_usd`` grow only when it
  is, and atomically with it, so a redelivered task never counts twice
  (``duplicates`` counts the redeliveries instead).
* Counters and budget reservations are exact under any concurrency.
* A checkpoint for a generation is written once, atomically together with the
  fitness-history entries of that generation, so a resumed scheduler that
  checkpoints the same generation again appends nothing twice.
* Every method raises :class:`~evofarm.errors.StoreError` when the backend fails
  or finds data it cannot decode; none raises anything else on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from evofarm.errors import StoreError

JSONDoc = dict[str, Any]
"""A JSON object as stored: str keys, JSON-compatible values."""

#: Counter names the store maintains itself.
COUNTER_EVALUATIONS = "evaluations"
COUNTER_TOKENS = "tokens"
COUNTER_COST = "cost_micro_usd"
COUNTER_FAILURES = "failures"
COUNTER_DUPLICATES = "duplicates"
#: Cases actually run (a nursery's partial evaluations included, reused cases not).
COUNTER_CASE_RUNS = "case_runs"

#: The first campaign status; the lifecycle module owns the rest.
STATUS_SUBMITTED = "submitted"


@dataclass(frozen=True)
class EvalKey:
    """Identifies one evaluation: a genome on a suite at a fidelity."""

    genome_id: str
    suite_id: str
    fidelity: str

    def member(self) -> str:
        """The canonical ``genome|suite|fidelity`` string used in indexes."""
        return f"{self.genome_id}|{self.suite_id}|{self.fidelity}"

    @classmethod
    def parse(cls, member: str) -> EvalKey:
        """Inverse of :meth:`member`. Raises StoreError on a malformed string."""
        parts = member.split("|")
        if len(parts) != 3:
            raise StoreError(f"malformed evaluation index entry {member!r}")
        return cls(parts[0], parts[1], parts[2])


@dataclass(frozen=True)
class CampaignRecord:
    """A campaign as stored: its spec (JSON), lifecycle status and free info fields."""

    id: str
    spec: JSONDoc
    status: str
    reason: str
    created_at: float
    updated_at: float
    info: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordOutcome:
    """What :meth:`PopulationStore.record_evaluation` did.

    Attributes:
        recorded: True if this call stored the evaluation; False if it was
            already there (a redelivery) and nothing was counted.
        crossed_budget: the budget the campaign has crossed, if any (the first
            one crossed is kept), checked atomically with the counting.
    """

    recorded: bool
    crossed_budget: str | None


@dataclass(frozen=True)
class Checkpoint:
    """A generation checkpoint: the JSON evolution state after ``generation``."""

    generation: int
    state: JSONDoc


def canonical_json(doc: Any) -> str:
    """The canonical JSON text of ``doc`` (sorted keys, no spaces): what is stored.

    Raises:
        StoreError: ``doc`` is not JSON-serialisable.
    """
    try:
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"document is not JSON-serialisable: {exc}") from exc


def decode_json(text: str | bytes, what: str) -> Any:
    """Parse stored JSON text, raising StoreError (naming ``what``) if corrupt."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StoreError(f"corrupt {what} in the store: {exc}") from exc


def task_id_list(task_ids: Iterable[str]) -> list[str]:
    """``task_ids`` as a list; a lone id (a ``str`` is iterable too) is a caller's bug.

    Raises:
        TypeError: ``task_ids`` is a single string.
    """
    if isinstance(task_ids, str):
        raise TypeError(f"expected task ids, got the string {task_ids!r} (wrap one id in a list)")
    return list(task_ids)


def decode_object(text: str | bytes, what: str) -> JSONDoc:
    """Parse a stored JSON object (every stored document is one).

    Raises:
        StoreError: the text is not JSON, or not an object (naming ``what``).
    """
    value = decode_json(text, what)
    if not isinstance(value, dict):
        raise StoreError(f"corrupt {what} in the store: not a JSON object")
    return value


def genome_id_of(doc: Mapping[str, Any]) -> str:
    """The ``id`` of a genome document. Raises StoreError if missing or not a str."""
    gid = doc.get("id")
    if not isinstance(gid, str) or not gid:
        raise StoreError("a genome document needs a non-empty string 'id'")
    return gid


@runtime_checkable
class PopulationStore(Protocol):
    """Everything a campaign keeps. See the module docstring for the contracts.

    Implementations are safe to use from many threads; the Redis backend is also
    safe across processes and machines.
    """

    # ---- campaigns -------------------------------------------------------

    def create_campaign(
        self,
        campaign: str,
        spec: JSONDoc,
        *,
        status: str = STATUS_SUBMITTED,
        info: Mapping[str, str] | None = None,
    ) -> CampaignRecord:
        """Create a campaign. Raises StoreError if the id is taken or invalid."""
        ...

    def get_campaign(self, campaign: str) -> CampaignRecord | None:
        """The campaign, or None if there is none with this id."""
        ...

    def list_campaigns(self) -> list[CampaignRecord]:
        """Every campaign, oldest first."""
        ...

    def get_status(self, campaign: str) -> str | None:
        """The campaign's status alone (cheap: no spec), or None if there is none."""
        ...

    def get_info(self, campaign: str, name: str) -> str | None:
        """One info field of the campaign (cheap), or None if unset."""
        ...

    def transition(
        self, campaign: str, allowed_from: Collection[str], to: str, reason: str
    ) -> bool:
        """Atomically set status ``to`` (and ``reason``) if the status is in ``allowed_from``.

        Returns:
            True if the status changed; False if the current status was not allowed.

        Raises:
            StoreError: no such campaign.
        """
        ...

    def update_info(self, campaign: str, fields: Mapping[str, str]) -> None:
        """Set free-form info fields of a campaign (e.g. started_at, scheduler pid)."""
        ...

    def delete_campaign(self, campaign: str) -> None:
        """Remove a campaign and everything stored under it. Idempotent."""
        ...

    # ---- genomes ---------------------------------------------------------

    def put_genome(self, campaign: str, doc: JSONDoc) -> bool:
        """Store a genome under ``doc["id"]`` unless present. True if it was new."""
        ...

    def get_genome(self, campaign: str, genome_id: str) -> JSONDoc | None:
        """One genome document, or None."""
        ...

    def get_genomes(self, campaign: str, genome_ids: Sequence[str]) -> list[JSONDoc | None]:
        """Many genome documents in one round trip, in the order asked."""
        ...

    def genome_ids(self, campaign: str) -> set[str]:
        """Ids of every stored genome of the campaign."""
        ...

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
        """Record an evaluation once; count it (and its usage) only if new.

        ``case_runs`` (the cases this evaluation actually ran) is added to the
        ``case_runs`` counter. A ``partial`` evaluation (a nursery stage's) is
        stored, indexed and its usage and case runs counted, but it is not an
        evaluation of the campaign: neither ``evaluations`` nor ``failures``
        counts it. Budgets whose counter has reached its limit are flagged as
        crossed in the same atomic step.
        """
        ...

    def get_evaluation(self, campaign: str, key: EvalKey) -> JSONDoc | None:
        """One evaluation document, or None."""
        ...

    def get_evaluations(self, campaign: str, keys: Sequence[EvalKey]) -> list[JSONDoc | None]:
        """Many evaluation documents in one round trip, in the order asked."""
        ...

    def evaluation_keys(self, campaign: str) -> set[EvalKey]:
        """Keys of every recorded evaluation."""
        ...

    # ---- lineage, checkpoints, history, museum ----------------------------

    def add_lineage(self, campaign: str, edges: Iterable[JSONDoc]) -> int:
        """Add lineage edges (set semantics). Returns how many were new."""
        ...

    def lineage(self, campaign: str) -> list[JSONDoc]:
        """Every lineage edge, in canonical-JSON order."""
        ...

    def save_checkpoint(
        self,
        campaign: str,
        generation: int,
        state: JSONDoc,
        history: Sequence[JSONDoc] = (),
    ) -> bool:
        """Checkpoint ``generation`` and append ``history``, atomically, once.

        Returns:
            True if written; False if that generation was already checkpointed
            (then nothing, history included, is written).
        """
        ...

    def load_checkpoint(self, campaign: str, generation: int | None = None) -> Checkpoint | None:
        """The checkpoint of ``generation`` (default: the latest), or None."""
        ...

    def append_history(self, campaign: str, entries: Sequence[JSONDoc]) -> None:
        """Append fitness-history entries."""
        ...

    def read_history(self, campaign: str, start: int = 0) -> list[JSONDoc]:
        """The fitness-history entries from index ``start`` on (0: all), in append order.

        A reader that keeps what it read asks for the tail: ``start`` = entries it has.
        """
        ...

    def add_to_museum(self, campaign: str, entry_id: str, doc: JSONDoc) -> bool:
        """Add a failure-museum entry unless ``entry_id`` is there. True if new."""
        ...

    def museum(self, campaign: str) -> list[JSONDoc]:
        """Every failure-museum entry, ordered by entry id."""
        ...

    def put_task_result(
        self, campaign: str, generation: int, kind: str, slot: int, doc: JSONDoc
    ) -> bool:
        """Record the result of task ``slot`` of ``kind`` in ``generation`` once.

        Returns:
            True if new; False if that slot already had a result (kept as is).
        """
        ...

    def task_results(self, campaign: str, generation: int, kind: str) -> dict[int, JSONDoc]:
        """Every recorded result of ``kind`` in ``generation``, by slot."""
        ...

    # ---- counters and budgets ---------------------------------------------

    def add_counters(self, campaign: str, amounts: Mapping[str, int]) -> dict[str, int]:
        """Atomically add to counters; returns every counter after the change."""
        ...

    def counters(self, campaign: str) -> dict[str, int]:
        """Every counter (missing ones are absent, i.e. zero)."""
        ...

    def set_budgets(self, campaign: str, limits: Mapping[str, int]) -> None:
        """Set budget limits (name -> integer limit); replaces earlier limits."""
        ...

    def budgets(self, campaign: str) -> dict[str, int]:
        """The budget limits."""
        ...

    def reserve(self, campaign: str, name: str, amount: int) -> bool:
        """Atomic check-and-add: reserve ``amount`` of budget ``name``.

        Returns:
            True (and adds) if reserved + amount stays within the limit, or if
            the budget has no limit; False (and adds nothing) otherwise.
        """
        ...

    def reserved(self, campaign: str) -> dict[str, int]:
        """What has been reserved so far, per budget."""
        ...

    def mark_budget_crossed(self, campaign: str, name: str) -> str:
        """Flag ``name`` as crossed unless one already is; returns the flagged one."""
        ...

    def crossed_budget(self, campaign: str) -> str | None:
        """The first budget the campaign crossed, or None."""
        ...

    # ---- in-flight tasks, events, lease -----------------------------------

    def add_inflight(self, campaign: str, task_ids: Iterable[str]) -> None:
        """Remember enqueued task ids (so a kill can revoke them)."""
        ...

    def remove_inflight(self, campaign: str, task_ids: Iterable[str]) -> None:
        """Forget finished task ids (unknown ids are ignored; one round trip for all)."""
        ...

    def inflight(self, campaign: str) -> set[str]:
        """Task ids enqueued and not finished."""
        ...

    def push_event(self, campaign: str, channel: str, doc: JSONDoc) -> None:
        """Append an event to a mailbox and wake one waiter."""
        ...

    def wait_event(self, campaign: str, channel: str, timeout: float) -> JSONDoc | None:
        """Block up to ``timeout`` seconds for the next event; None on timeout.

        No busy polling: the Redis backend uses BLPOP, the memory one a condition.
        """
        ...

    def acquire_lease(self, campaign: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the campaign's scheduler lease; False if another owner holds it."""
        ...

    def release_lease(self, campaign: str, owner: str) -> None:
        """Give the lease up if ``owner`` holds it."""
        ...


@runtime_checkable
class SharedStore(PopulationStore, Protocol):
    """A :class:`PopulationStore` that a whole farm can share: what the farm opens.

    Beyond the base contracts: every process and machine that opens the same URL
    sees the same data, and every operation is atomic across processes (not only
    threads), because the scheduler, each worker and the CLI's control commands
    hold their own connection. :class:`~evofarm.store.redis.RedisStore` is one.
    """

    def close(self) -> None:
        """Release this client's connections; the store is unusable afterwards."""
        ...
