"""Renaming a Redis written before the hash-tagged key layout to today's names.

Until the keys carried Redis Cluster hash tags (:mod:`evofarm.keys`) a
campaign's keys were ``evofarm:c:<id>:...`` and the collective memory's
``evofarm:memory:...``; a provider's rate keys ``evofarm:fleet:rl:<provider>...``.
:func:`migrate_keys` renames them (``evofarm:c:{<id>}:...``,
``evofarm:{memory}:...``, ``evofarm:fleet:rl:{<provider>}...``), keeping
values and TTLs. The two caches' old entries are deleted instead: their
eviction index holds entry names, they expire anyway and refill by
themselves. The campaign index's name did not change.

Idempotent and safe to rerun: a key whose new name already exists is left
alone and counted as a conflict (never overwritten). Run it with the farm
stopped (``evofarm migrate-keys``); the embedded farm runs it on its own
private Redis when it starts, so an interrupted campaign resumes after an
upgrade. Not atomic as a whole: each key is one ``RENAMENX``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import redis

from evofarm import keys
from evofarm.errors import StoreError

_OLD_CAMPAIGN = re.compile(r"^evofarm:c:([A-Za-z0-9][A-Za-z0-9_.-]{0,127})(:.+)$")
_OLD_MEMORY = re.compile(r"^evofarm:memory:(.+)$")
_OLD_RATE = re.compile(r"^evofarm:fleet:rl:([A-Za-z0-9_.@+=-]{1,256})((:.+)?)$")
_OLD_CACHE = re.compile(r"^evofarm:fleet:(rc|ec)(:.+|-index)$")

#: SCAN patterns that find every old-layout key (new names have a brace there).
_PATTERNS = (
    "evofarm:c:[^{]*",
    "evofarm:memory:*",
    "evofarm:fleet:rl:[^{]*",
    "evofarm:fleet:[re]c*",
)


@dataclass
class Migration:
    """What :func:`migrate_keys` did (or, in a dry run, would do).

    Attributes:
        renamed: Keys given their new name.
        dropped: Old cache keys deleted.
        conflicts: Old keys left as they were because the new name exists.
    """

    renamed: int = 0
    dropped: int = 0
    conflicts: int = 0


def new_name(old: str) -> str | None:
    """The hash-tagged name of an old-layout key; None if it is no such key (or a cache's)."""
    if match := _OLD_CAMPAIGN.match(old):
        return keys.campaign_prefix(match.group(1)) + match.group(2)
    if match := _OLD_MEMORY.match(old):
        return f"{keys.MEMORY}:{match.group(1)}"
    if match := _OLD_RATE.match(old):
        provider, rest = match.group(1), match.group(2)
        return keys.rate_bucket(provider) + rest
    return None


def is_old_cache_key(name: str) -> bool:
    """Whether ``name`` is a response- or evaluation-cache key of the old layout."""
    return _OLD_CACHE.match(name) is not None


def migrate_keys(client: Any, *, dry_run: bool = False) -> Migration:
    """Rename (or drop, for caches) every old-layout key in ``client``'s database.

    Args:
        client: a redis-py client (``decode_responses=True``).
        dry_run: count only, change nothing.

    Raises:
        StoreError: Redis failed (keys renamed so far stay renamed; rerun it).
    """
    done = Migration()
    try:
        for pattern in _PATTERNS:
            for name in list(client.scan_iter(match=pattern, count=500)):
                target = new_name(name)
                if target is not None:
                    if dry_run or client.renamenx(name, target):
                        done.renamed += 1
                    else:
                        done.conflicts += 1
                elif is_old_cache_key(name):
                    done.dropped += 1
                    if not dry_run:
                        client.unlink(name)
    except redis.RedisError as exc:
        raise StoreError(f"redis: key migration failed: {exc}") from exc
    return done
