"""Redis :class:`~evofarm.store.base.PopulationStore`, shared by scheduler and workers.

Exactness comes from Redis itself: every read-modify-write that must be exact
(recording an evaluation with its counters and budget check, reserving budget,
status transitions, checkpoints with their history, the scheduler lease) is one
Lua script, which Redis runs atomically. Batch reads use pipelines. Key names
come from :mod:`evofarm.keys` only.

Thread-safe (redis-py's connection pool); safe across processes and machines.
Every Redis failure surfaces as :class:`~evofarm.errors.StoreError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import redis

from evofarm import keys
from evofarm.errors import StoreError, StoreUnreachable
from evofarm.store import redis_scripts as scripts
from evofarm.store.base import (
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

T = TypeVar("T")


def _load(text: str | None, what: str) -> JSONDoc | None:
    """A stored object, or None for a missing key."""
    return None if text is None else decode_object(text, what)


def _require(text: str | None, what: str) -> JSONDoc:
    """A stored object that must be there (e.g. a member of a listing)."""
    if text is None:
        raise StoreError(f"missing {what} in the store")
    return decode_object(text, what)


#: redis-py failures that mean "not reachable now" (a restart, a cut link, a stall).
_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


@contextmanager
def _errors(action: str) -> Iterator[None]:
    """Turn redis-py failures into StoreError naming what was being done."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise StoreUnreachable(f"redis: {action} failed: {exc}") from exc
    except redis.RedisError as exc:
        raise StoreError(f"redis: {action} failed: {exc}") from exc


#: Read timeout of every store connection. redis-py 8 defaults to 5 s, which a
#: BLPOP plus a loaded machine can exceed; a dead server is still noticed.
SOCKET_TIMEOUT_S = 60.0
#: Blocking waits stay well below the read timeout.
MAX_BLOCK_S = SOCKET_TIMEOUT_S / 2


def connect(url: str) -> redis.Redis:
    """A redis-py client for ``url`` with str responses.

    The read timeout (:data:`SOCKET_TIMEOUT_S`) is longer than any blocking wait
    the store issues (:data:`MAX_BLOCK_S`); connect timeout and health
    checks catch a dead server.
    """
    with _errors("connect"):
        client: redis.Redis = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=5.0,
            health_check_interval=30,
        )
    return client


class RedisStore:
    """A :class:`PopulationStore` in Redis.

    Args:
        client: a redis-py client created with ``decode_responses=True``
            (see :func:`connect`), or use :meth:`from_url`.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        # redis-py's annotations type every reply as ``bytes | str`` whatever
        # ``decode_responses`` says; this client decodes, so replies are str and
        # the store checks their shape itself.
        self._r: Any = client
        self._create = client.register_script(scripts.CREATE)
        self._transition = client.register_script(scripts.TRANSITION)
        self._record = client.register_script(scripts.RECORD)
        self._reserve = client.register_script(scripts.RESERVE)
        self._checkpoint = client.register_script(scripts.CHECKPOINT)
        self._lease = client.register_script(scripts.LEASE)
        self._release = client.register_script(scripts.RELEASE)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """A store on the Redis at ``url`` (``redis://``, ``unix://`` ...)."""
        return cls(connect(url))

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        with _errors(action):
            return fn()

    # ---- campaigns -------------------------------------------------------

    def create_campaign(
        self,
        campaign: str,
        spec: JSONDoc,
        *,
        status: str = STATUS_SUBMITTED,
        info: Mapping[str, str] | None = None,
    ) -> CampaignRecord:
        pairs = [x for kv in (info or {}).items() for x in kv]
        now = time.time()
        argv: list[str | int] = [canonical_json(spec), status, repr(now), *pairs]
        meta = keys.campaign_meta(campaign)
        # The index is global (its own slot under Redis Cluster), so it is written
        # apart, and first: a crash in between leaves an index entry without a
        # record, which listing skips, never a campaign the index misses.
        self._call(
            "index campaign", lambda: self._r.zadd(keys.campaign_index(), {campaign: now}, nx=True)
        )
        created = self._call("create campaign", lambda: self._create(keys=[meta], args=argv))
        if not created:
            raise StoreError(f"campaign {campaign!r} already exists")
        record = self.get_campaign(campaign)
        if record is None:  # pragma: no cover - deleted between two calls
            raise StoreError(f"campaign {campaign!r} vanished right after creation")
        return record

    @staticmethod
    def _from_hash(campaign: str, raw: Mapping[str, str]) -> CampaignRecord | None:
        if "status" not in raw:
            return None
        try:
            created, updated = float(raw["created_at"]), float(raw["updated_at"])
        except (KeyError, ValueError) as exc:
            raise StoreError(f"corrupt campaign record {campaign!r}: {exc}") from exc
        return CampaignRecord(
            id=campaign,
            spec=_require(raw.get("spec"), "campaign spec"),
            status=raw["status"],
            reason=raw.get("reason", ""),
            created_at=created,
            updated_at=updated,
            info={k[5:]: v for k, v in raw.items() if k.startswith("info:")},
        )

    def get_campaign(self, campaign: str) -> CampaignRecord | None:
        meta = keys.campaign_meta(campaign)
        raw: dict[str, str] = self._call("read campaign", lambda: self._r.hgetall(meta))
        return self._from_hash(campaign, raw)

    def list_campaigns(self) -> list[CampaignRecord]:
        def read() -> tuple[list[str], list[dict[str, str]]]:
            ids: list[str] = self._r.zrange(keys.campaign_index(), 0, -1)
            pipe = self._r.pipeline(transaction=False)
            for cid in ids:
                pipe.hgetall(keys.campaign_meta(cid))
            return ids, pipe.execute()

        ids, raws = self._call("list campaigns", read)
        found = (self._from_hash(cid, raw) for cid, raw in zip(ids, raws, strict=True))
        return [r for r in found if r is not None]

    def get_status(self, campaign: str) -> str | None:
        meta = keys.campaign_meta(campaign)
        status: str | None = self._call("read status", lambda: self._r.hget(meta, "status"))
        return status

    def get_info(self, campaign: str, name: str) -> str | None:
        meta = keys.campaign_meta(campaign)
        value: str | None = self._call(
            "read campaign info", lambda: self._r.hget(meta, f"info:{name}")
        )
        return value

    def transition(
        self, campaign: str, allowed_from: Collection[str], to: str, reason: str
    ) -> bool:
        meta = keys.campaign_meta(campaign)
        argv: list[str | int] = [to, reason, repr(time.time()), *allowed_from]
        result = self._call("transition", lambda: self._transition(keys=[meta], args=argv))
        if result == -1:
            raise StoreError(f"no campaign {campaign!r}")
        return bool(result)

    def update_info(self, campaign: str, fields: Mapping[str, str]) -> None:
        if not fields:
            return
        mapping = {f"info:{k}": v for k, v in fields.items()}
        meta = keys.campaign_meta(campaign)
        self._call("update campaign info", lambda: self._r.hset(meta, mapping=mapping))

    def delete_campaign(self, campaign: str) -> None:
        pattern = keys.campaign_prefix(campaign) + ":*"

        def purge() -> None:
            batch: list[str] = []
            for key in self._r.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    self._r.unlink(*batch)
                    batch.clear()
            if batch:
                self._r.unlink(*batch)
            self._r.zrem(keys.campaign_index(), campaign)

        self._call("delete campaign", purge)

    # ---- genomes ---------------------------------------------------------

    def put_genome(self, campaign: str, doc: JSONDoc) -> bool:
        gid, text = genome_id_of(doc), canonical_json(doc)
        key, index = keys.genome(campaign, gid), keys.genome_ids(campaign)

        def put() -> bool:
            pipe = self._r.pipeline(transaction=True)
            pipe.set(key, text, nx=True)
            pipe.sadd(index, gid)
            created, _ = pipe.execute()
            return bool(created)

        return self._call("store genome", put)

    def get_genome(self, campaign: str, genome_id: str) -> JSONDoc | None:
        return self.get_genomes(campaign, [genome_id])[0]

    def get_genomes(self, campaign: str, genome_ids: Sequence[str]) -> list[JSONDoc | None]:
        if not genome_ids:
            return []
        names = [keys.genome(campaign, gid) for gid in genome_ids]
        texts: list[str | None] = self._call("read genomes", lambda: self._r.mget(names))
        return [_load(t, "genome") for t in texts]

    def genome_ids(self, campaign: str) -> set[str]:
        index = keys.genome_ids(campaign)
        return set(self._call("list genomes", lambda: self._r.smembers(index)))

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
        redis_keys = [
            keys.evaluation(campaign, key.genome_id, key.suite_id, key.fidelity),
            keys.evaluation_index(campaign),
            keys.counters(campaign),
            keys.budget_limits(campaign),
            keys.campaign_meta(campaign),
        ]
        argv: list[str | int] = [
            canonical_json(doc),
            key.member(),
            int(tokens),
            int(cost_micro_usd),
            int(failed),
            int(case_runs),
            int(partial),
        ]
        recorded, crossed = self._call(
            "record evaluation", lambda: self._record(keys=redis_keys, args=argv)
        )
        return RecordOutcome(recorded=bool(recorded), crossed_budget=crossed or None)

    def get_evaluation(self, campaign: str, key: EvalKey) -> JSONDoc | None:
        return self.get_evaluations(campaign, [key])[0]

    def get_evaluations(self, campaign: str, keys_: Sequence[EvalKey]) -> list[JSONDoc | None]:
        if not keys_:
            return []
        names = [keys.evaluation(campaign, k.genome_id, k.suite_id, k.fidelity) for k in keys_]
        texts: list[str | None] = self._call("read evaluations", lambda: self._r.mget(names))
        return [_load(t, "evaluation") for t in texts]

    def evaluation_keys(self, campaign: str) -> set[EvalKey]:
        index = keys.evaluation_index(campaign)
        members: set[str] = self._call("list evaluations", lambda: self._r.smembers(index))
        return {EvalKey.parse(m) for m in members}

    # ---- lineage, checkpoints, history, museum ----------------------------

    def add_lineage(self, campaign: str, edges: Iterable[JSONDoc]) -> int:
        texts = [canonical_json(e) for e in edges]
        if not texts:
            return 0
        key = keys.lineage(campaign)
        return int(self._call("add lineage", lambda: self._r.sadd(key, *texts)))

    def lineage(self, campaign: str) -> list[JSONDoc]:
        key = keys.lineage(campaign)
        texts: set[str] = self._call("read lineage", lambda: self._r.smembers(key))
        return [_require(t, "lineage edge") for t in sorted(texts)]

    def save_checkpoint(
        self,
        campaign: str,
        generation: int,
        state: JSONDoc,
        history: Sequence[JSONDoc] = (),
    ) -> bool:
        redis_keys = [
            keys.checkpoint(campaign, int(generation)),
            keys.checkpoint_latest(campaign),
            keys.fitness_history(campaign),
        ]
        argv: list[str | int] = [
            canonical_json(state),
            int(generation),
            *(canonical_json(h) for h in history),
        ]
        written = self._call(
            "save checkpoint", lambda: self._checkpoint(keys=redis_keys, args=argv)
        )
        return bool(written)

    def load_checkpoint(self, campaign: str, generation: int | None = None) -> Checkpoint | None:
        def read() -> tuple[int, str | None] | None:
            gen = generation
            if gen is None:
                latest = self._r.get(keys.checkpoint_latest(campaign))
                if latest is None:
                    return None
                gen = int(latest)
            return gen, self._r.get(keys.checkpoint(campaign, gen))

        found = self._call("load checkpoint", read)
        if found is None or found[1] is None:
            return None
        return Checkpoint(found[0], _require(found[1], "checkpoint"))

    def append_history(self, campaign: str, entries: Sequence[JSONDoc]) -> None:
        texts = [canonical_json(e) for e in entries]
        if texts:
            key = keys.fitness_history(campaign)
            self._call("append history", lambda: self._r.rpush(key, *texts))

    def read_history(self, campaign: str, start: int = 0) -> list[JSONDoc]:
        key, first = keys.fitness_history(campaign), max(0, int(start))
        texts: list[str] = self._call("read history", lambda: self._r.lrange(key, first, -1))
        return [_require(t, "history entry") for t in texts]

    def add_to_museum(self, campaign: str, entry_id: str, doc: JSONDoc) -> bool:
        key, text = keys.museum(campaign), canonical_json(doc)
        return bool(self._call("add to museum", lambda: self._r.hsetnx(key, entry_id, text)))

    def museum(self, campaign: str) -> list[JSONDoc]:
        key = keys.museum(campaign)
        raw: dict[str, str] = self._call("read museum", lambda: self._r.hgetall(key))
        return [_require(raw[k], "museum entry") for k in sorted(raw)]

    def put_task_result(
        self, campaign: str, generation: int, kind: str, slot: int, doc: JSONDoc
    ) -> bool:
        key, text = keys.task_results(campaign, int(generation), kind), canonical_json(doc)
        return bool(
            self._call("store task result", lambda: self._r.hsetnx(key, str(int(slot)), text))
        )

    def task_results(self, campaign: str, generation: int, kind: str) -> dict[int, JSONDoc]:
        key = keys.task_results(campaign, int(generation), kind)
        raw: dict[str, str] = self._call("read task results", lambda: self._r.hgetall(key))
        try:
            slots = sorted((int(slot), text) for slot, text in raw.items())
        except ValueError as exc:
            raise StoreError(f"corrupt task results in the store: {exc}") from exc
        return {slot: _require(text, "task result") for slot, text in slots}

    # ---- counters and budgets ---------------------------------------------

    @staticmethod
    def _ints(raw: Mapping[str, str], what: str) -> dict[str, int]:
        try:
            return {k: int(v) for k, v in raw.items()}
        except ValueError as exc:
            raise StoreError(f"corrupt {what} in the store: {exc}") from exc

    def add_counters(self, campaign: str, amounts: Mapping[str, int]) -> dict[str, int]:
        key = keys.counters(campaign)

        def add() -> dict[str, str]:
            pipe = self._r.pipeline(transaction=True)
            for name, amount in amounts.items():
                pipe.hincrby(key, name, int(amount))
            pipe.hgetall(key)
            result: dict[str, str] = pipe.execute()[-1]
            return result

        return self._ints(self._call("add counters", add), "counters")

    def counters(self, campaign: str) -> dict[str, int]:
        key = keys.counters(campaign)
        return self._ints(self._call("read counters", lambda: self._r.hgetall(key)), "counters")

    def set_budgets(self, campaign: str, limits: Mapping[str, int]) -> None:
        key = keys.budget_limits(campaign)
        mapping = {k: int(v) for k, v in limits.items()}

        def replace() -> None:
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(key)
            if mapping:
                pipe.hset(key, mapping=mapping)
            pipe.execute()

        self._call("set budgets", replace)

    def budgets(self, campaign: str) -> dict[str, int]:
        key = keys.budget_limits(campaign)
        return self._ints(self._call("read budgets", lambda: self._r.hgetall(key)), "budgets")

    def reserve(self, campaign: str, name: str, amount: int) -> bool:
        redis_keys = [keys.budget_reserved(campaign), keys.budget_limits(campaign)]
        argv: list[str | int] = [name, int(amount)]
        return bool(self._call("reserve budget", lambda: self._reserve(keys=redis_keys, args=argv)))

    def reserved(self, campaign: str) -> dict[str, int]:
        key = keys.budget_reserved(campaign)
        return self._ints(self._call("read reserved", lambda: self._r.hgetall(key)), "budgets")

    def mark_budget_crossed(self, campaign: str, name: str) -> str:
        meta = keys.campaign_meta(campaign)

        def mark() -> str:
            pipe = self._r.pipeline(transaction=True)
            pipe.hsetnx(meta, "crossed_budget", name)
            pipe.hget(meta, "crossed_budget")
            result: str = pipe.execute()[-1]
            return result

        return self._call("mark budget crossed", mark)

    def crossed_budget(self, campaign: str) -> str | None:
        meta = keys.campaign_meta(campaign)
        crossed: str | None = self._call(
            "read crossed budget", lambda: self._r.hget(meta, "crossed_budget")
        )
        return crossed or None

    # ---- in-flight tasks, events, lease -----------------------------------

    def add_inflight(self, campaign: str, task_ids: Iterable[str]) -> None:
        ids = task_id_list(task_ids)
        if ids:
            key = keys.inflight(campaign)
            self._call("add in-flight", lambda: self._r.sadd(key, *ids))

    def remove_inflight(self, campaign: str, task_ids: Iterable[str]) -> None:
        ids = task_id_list(task_ids)
        if ids:
            key = keys.inflight(campaign)
            self._call("remove in-flight", lambda: self._r.srem(key, *ids))

    def inflight(self, campaign: str) -> set[str]:
        key = keys.inflight(campaign)
        return set(self._call("read in-flight", lambda: self._r.smembers(key)))

    def push_event(self, campaign: str, channel: str, doc: JSONDoc) -> None:
        key, text = keys.events(campaign, channel), canonical_json(doc)
        self._call("push event", lambda: self._r.rpush(key, text))

    def wait_event(self, campaign: str, channel: str, timeout: float) -> JSONDoc | None:
        key = keys.events(campaign, channel)
        if timeout <= 0:
            text: str | None = self._call("pop event", lambda: self._r.lpop(key))
            return _load(text, "event")
        wait = min(timeout, MAX_BLOCK_S)
        popped: Any = self._call("wait event", lambda: self._r.blpop([key], wait))
        return None if popped is None else _load(popped[1], "event")

    def acquire_lease(self, campaign: str, owner: str, ttl_s: float) -> bool:
        key = keys.lease(campaign)
        argv: list[str | int] = [owner, max(1, int(ttl_s * 1000))]
        return bool(self._call("acquire lease", lambda: self._lease(keys=[key], args=argv)))

    def release_lease(self, campaign: str, owner: str) -> None:
        key = keys.lease(campaign)
        self._call("release lease", lambda: self._release(keys=[key], args=[owner]))


register_store(
    ("redis", "rediss", "unix"),
    StoreBackend(open=RedisStore.from_url, open_shared=RedisStore.from_url),
)
