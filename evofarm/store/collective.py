"""Collective memory across campaigns: patterns, the failure museum, the gallery.

:class:`CollectiveMemory` is what campaigns share: patterns mined from winners
(:func:`~evofarm.evolution.memory.mine_patterns`; a pattern seen again counts
one more winner), failures deduplicated by outcome and reason, and the gallery
(patterns in order of first appearance, each with the genome it first
appeared in). :class:`InMemoryCollective` serves one process (tests, the
in-process loop without a farm); :class:`RedisCollective` keeps it in the
farm's Redis under ``evofarm:{memory}:*`` (:mod:`evofarm.keys`), shared by every
campaign on that Redis. :func:`open_collective` picks by URL.

The Redis records are shared data anyone with the Redis can write: a record
that does not decode is left out (and logged), never raised into a campaign;
what is offered is checked again as a user's pipeline
(:func:`~evofarm.evolution.memory.fragment_problem`).

Thread safety: both are safe to share between threads (a lock; Redis commands
are atomic, and a first record is written with ``HSETNX`` so two campaigns
ending at once agree on it).
"""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import redis
from pydantic import ValidationError

from evofarm import keys
from evofarm.errors import StoreError
from evofarm.evolution.memory import Failure, Pattern, failure_key, normalise_reason
from evofarm.store.redis import connect

_Record = TypeVar("_Record", Pattern, Failure)

log = logging.getLogger(__name__)


def _count(raw: str | None, default: int) -> int:
    """A stored counter, or ``default`` when it is missing or not an integer."""
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


class CollectiveMemory(ABC):
    """The shared memory of every campaign (see module docs)."""

    @abstractmethod
    def add_patterns(self, patterns: Iterable[Pattern]) -> int:
        """Record one winner's patterns; returns how many were new (gallery entries).

        Raises:
            StoreError: the backend failed.
        """

    @abstractmethod
    def patterns(self) -> list[Pattern]:
        """Every pattern with its winner count, sorted by key."""

    @abstractmethod
    def gallery(self) -> list[Pattern]:
        """Patterns in order of first appearance (first records)."""

    @abstractmethod
    def add_failure(self, outcome: str, reason: str | None, *, campaign: str, genome: str) -> bool:
        """Record a failure; True if its outcome and reason were new to the museum."""

    @abstractmethod
    def failures(self) -> list[Failure]:
        """Every museum entry with its count, most frequent first (ties by key)."""


def _failure(outcome: str, reason: str | None, campaign: str, genome: str) -> Failure:
    return Failure(
        key=failure_key(outcome, reason), outcome=outcome, reason=normalise_reason(reason),
        campaign=campaign, genome=genome,
    )  # fmt: skip


class InMemoryCollective(CollectiveMemory):
    """A process-local collective memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._patterns: dict[str, Pattern] = {}
        self._order: list[str] = []
        self._failures: dict[str, Failure] = {}

    def add_patterns(self, patterns: Iterable[Pattern]) -> int:
        """See :meth:`CollectiveMemory.add_patterns`."""
        new = 0
        with self._lock:
            for pattern in patterns:
                known = self._patterns.get(pattern.key)
                if known is None:
                    self._patterns[pattern.key] = pattern.model_copy(update={"winners": 1})
                    self._order.append(pattern.key)
                    new += 1
                else:
                    self._patterns[pattern.key] = known.model_copy(
                        update={"winners": known.winners + 1}
                    )
        return new

    def patterns(self) -> list[Pattern]:
        """See :meth:`CollectiveMemory.patterns`."""
        with self._lock:
            return [self._patterns[k] for k in sorted(self._patterns)]

    def gallery(self) -> list[Pattern]:
        """See :meth:`CollectiveMemory.gallery`."""
        with self._lock:
            return [self._patterns[k].model_copy(update={"winners": 1}) for k in self._order]

    def add_failure(self, outcome: str, reason: str | None, *, campaign: str, genome: str) -> bool:
        """See :meth:`CollectiveMemory.add_failure`."""
        entry = _failure(outcome, reason, campaign, genome)
        with self._lock:
            known = self._failures.get(entry.key)
            if known is None:
                self._failures[entry.key] = entry
                return True
            self._failures[entry.key] = known.model_copy(update={"count": known.count + 1})
            return False

    def failures(self) -> list[Failure]:
        """See :meth:`CollectiveMemory.failures`."""
        with self._lock:
            return sorted(self._failures.values(), key=lambda f: (-f.count, f.key))


class RedisCollective(CollectiveMemory):
    """The collective memory in the farm's Redis (keys ``evofarm:{memory}:*``)."""

    def __init__(self, client: Any) -> None:
        self._r = client

    @classmethod
    def from_url(cls, url: str) -> RedisCollective:
        """Connect to the Redis ``url`` names (``redis://`` or ``rediss://``)."""
        return cls(connect(url))

    def _do(self, action: str, fn: Any) -> Any:
        try:
            return fn()
        except redis.RedisError as exc:
            raise StoreError(f"redis: {action} failed: {exc}") from exc

    def add_patterns(self, patterns: Iterable[Pattern]) -> int:
        """See :meth:`CollectiveMemory.add_patterns`."""
        new = 0
        for pattern in patterns:
            doc = pattern.model_copy(update={"winners": 1}).model_dump_json()
            first = self._do(
                "add pattern",
                lambda p=pattern, d=doc: self._r.hsetnx(keys.memory_patterns(), p.key, d),
            )
            if first:
                self._do("gallery", lambda p=pattern: self._r.rpush(keys.memory_gallery(), p.key))
                new += 1
            else:
                self._do(
                    "count winner",
                    lambda p=pattern: self._r.hincrby(keys.memory_pattern_winners(), p.key, 1),
                )
        return new

    def _records(self) -> dict[str, Pattern]:
        raw: dict[str, str] = self._do(
            "read patterns", lambda: self._r.hgetall(keys.memory_patterns())
        )
        found: dict[str, Pattern] = {}
        for key, pattern in _decoded(raw, Pattern, "pattern"):
            if pattern.key == key:
                found[key] = pattern
            else:
                log.warning("collective memory: pattern %r is stored under another key", key)
        return found

    def patterns(self) -> list[Pattern]:
        """See :meth:`CollectiveMemory.patterns`."""
        records = self._records()
        extra: dict[str, str] = self._do(
            "read winners", lambda: self._r.hgetall(keys.memory_pattern_winners())
        )
        return [
            records[k].model_copy(update={"winners": 1 + max(0, _count(extra.get(k), 0))})
            for k in sorted(records)
        ]

    def gallery(self) -> list[Pattern]:
        """See :meth:`CollectiveMemory.gallery`."""
        records = self._records()
        order: list[str] = self._do(
            "read gallery", lambda: self._r.lrange(keys.memory_gallery(), 0, -1)
        )
        return [records[k] for k in order if k in records]

    def add_failure(self, outcome: str, reason: str | None, *, campaign: str, genome: str) -> bool:
        """See :meth:`CollectiveMemory.add_failure`."""
        entry = _failure(outcome, reason, campaign, genome)
        first = self._do(
            "add failure",
            lambda: self._r.hsetnx(keys.memory_failures(), entry.key, entry.model_dump_json()),
        )
        self._do(
            "count failure", lambda: self._r.hincrby(keys.memory_failure_counts(), entry.key, 1)
        )
        return bool(first)

    def failures(self) -> list[Failure]:
        """See :meth:`CollectiveMemory.failures`."""
        raw: dict[str, str] = self._do(
            "read failures", lambda: self._r.hgetall(keys.memory_failures())
        )
        counts: dict[str, str] = self._do(
            "read failure counts", lambda: self._r.hgetall(keys.memory_failure_counts())
        )
        entries = [
            entry.model_copy(update={"count": max(1, _count(counts.get(key), 1))})
            for key, entry in _decoded(raw, Failure, "failure")
        ]
        return sorted(entries, key=lambda f: (-f.count, f.key))


def _decoded(raw: dict[str, str], model: type[_Record], what: str) -> Iterator[tuple[str, _Record]]:
    """Each stored record of a hash that decodes; one that does not is logged and left out."""
    for key, doc in raw.items():
        try:
            yield key, model.model_validate_json(doc)
        except ValidationError as exc:
            log.warning("collective memory: %s %r does not decode; left out: %s", what, key, exc)


def open_collective(url: str | None) -> CollectiveMemory:
    """The collective memory at ``url``: Redis for ``redis(s)://``/``unix://``, else in-memory.

    Raises:
        StoreError: Redis could not be reached.
    """
    if url and url.split("://", 1)[0] in {"redis", "rediss", "unix"}:
        return RedisCollective.from_url(url)
    return InMemoryCollective()


def dump(items: Iterable[Pattern | Failure]) -> list[dict[str, Any]]:
    """JSON-ready records (for ``evofarm memory --json``)."""
    return [json.loads(i.model_dump_json()) for i in items]
