"""Every Redis key name evofarm uses, in one place.

Per-campaign keys live under ``evofarm:c:{campaign}:``, so campaigns sharing one
Redis never collide and one campaign can be listed or purged by prefix. The
braces are a Redis Cluster hash tag: every key of one campaign hashes to the
same slot, so the store's and the ledger's multi-key Lua scripts and
transactions (record an evaluation with its counters and budgets, checkpoint
with history, reserve and settle a call, ...) stay atomic on one shard, while
campaigns spread over the shards.

The fleet-wide keys carry their own tags, one per group used together: the
collective memory ``evofarm:{memory}:*``; a provider's rate buckets and pause
``evofarm:fleet:rl:{provider}*`` (one script reads all of them); each cache's
entries with its eviction index (``evofarm:fleet:{rc}:*``,
``evofarm:fleet:{ec}:*``: the put script writes an entry and trims the index).
The campaign index ``evofarm:campaigns`` is a key of its own, never touched
together with another in one command. Celery's own broker keys are kombu's and
are not listed here. ``tests/store/test_cluster_slots.py`` checks every group
hashes to one slot, and runs the scripts on a Redis in cluster mode.

Campaign ids are validated (:func:`check_campaign_id`) so no id can contain the
separator, a brace or a glob character and escape its namespace or its tag.
"""

from __future__ import annotations

import re

from evofarm.errors import StoreError

ROOT = "evofarm"

_CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PART = re.compile(r"^[A-Za-z0-9_.@+=-]{1,256}$")


def check_campaign_id(campaign: str) -> str:
    """Return ``campaign`` if it is a valid id, else raise ``StoreError``.

    Ids are 1-128 characters: letters, digits, ``_``, ``.``, ``-``; no ``:``.
    """
    if not _CAMPAIGN_ID.match(campaign):
        raise StoreError(
            f"invalid campaign id {campaign!r}: expected 1-128 characters of "
            "letters, digits, '_', '.', '-' (starting with a letter or digit)"
        )
    return campaign


def _part(value: str | int, what: str) -> str:
    text = str(value)
    if not _PART.match(text):
        raise StoreError(f"invalid {what} {text!r} for a Redis key")
    return text


# ---- global -----------------------------------------------------------------


def campaign_index() -> str:
    """Sorted set: campaign id -> creation time (seconds since the epoch)."""
    return f"{ROOT}:campaigns"


#: The collective memory's namespace (hash tag ``memory``: one slot for all of it).
MEMORY = f"{ROOT}:{{memory}}"


def memory_patterns() -> str:
    """Hash: pattern key -> the pattern's first record (collective memory, all campaigns)."""
    return f"{MEMORY}:patterns"


def memory_pattern_winners() -> str:
    """Hash: pattern key -> further campaign winners that contained it."""
    return f"{MEMORY}:pattern-winners"


def memory_gallery() -> str:
    """List: pattern keys in order of first appearance (the innovation gallery)."""
    return f"{MEMORY}:gallery"


def memory_failures() -> str:
    """Hash: failure key -> the failure's first record (the failure museum)."""
    return f"{MEMORY}:failures"


def memory_failure_counts() -> str:
    """Hash: failure key -> times recorded."""
    return f"{MEMORY}:failure-counts"


# ---- per campaign -------------------------------------------------------------


def campaign_prefix(campaign: str) -> str:
    """The namespace of one campaign (no trailing separator); ``{campaign}`` is its hash tag."""
    return f"{ROOT}:c:{{{check_campaign_id(campaign)}}}"


def campaign_meta(campaign: str) -> str:
    """Hash: spec (JSON), status, reason, created_at, updated_at and free info fields."""
    return f"{campaign_prefix(campaign)}:meta"


def genome(campaign: str, genome_id: str) -> str:
    """String: one genome's JSON document, keyed by its content hash."""
    return f"{campaign_prefix(campaign)}:genome:{_part(genome_id, 'genome id')}"


def genome_ids(campaign: str) -> str:
    """Set: ids of every genome stored for the campaign."""
    return f"{campaign_prefix(campaign)}:genomes"


def evaluation(campaign: str, genome_id: str, suite_id: str, fidelity: str | int) -> str:
    """String: one evaluation's JSON document for (genome, suite, fidelity)."""
    return (
        f"{campaign_prefix(campaign)}:eval:{_part(genome_id, 'genome id')}:"
        f"{_part(suite_id, 'suite id')}:{_part(fidelity, 'fidelity')}"
    )


def evaluation_index(campaign: str) -> str:
    """Set: ``genome|suite|fidelity`` of every recorded evaluation."""
    return f"{campaign_prefix(campaign)}:evals"


def lineage(campaign: str) -> str:
    """Set: canonical JSON lineage edges (a set, so a redelivered breed adds none)."""
    return f"{campaign_prefix(campaign)}:lineage"


def checkpoint(campaign: str, generation: int) -> str:
    """String: the JSON evolution state checkpointed after ``generation``."""
    return f"{campaign_prefix(campaign)}:ckpt:{_part(generation, 'generation')}"


def checkpoint_latest(campaign: str) -> str:
    """String: the number of the latest checkpointed generation."""
    return f"{campaign_prefix(campaign)}:ckpt:latest"


def fitness_history(campaign: str) -> str:
    """List: fitness-history entries (JSON), in append order."""
    return f"{campaign_prefix(campaign)}:history"


def museum(campaign: str) -> str:
    """Hash: failure-museum entry id -> JSON entry."""
    return f"{campaign_prefix(campaign)}:museum"


def counters(campaign: str) -> str:
    """Hash: exact integer counters (evaluations, tokens, cost_micro_usd, ...)."""
    return f"{campaign_prefix(campaign)}:counters"


def budget_limits(campaign: str) -> str:
    """Hash: budget name -> integer limit."""
    return f"{campaign_prefix(campaign)}:budgets"


def budget_reserved(campaign: str) -> str:
    """Hash: budget name -> amount reserved ahead of use (check-and-add)."""
    return f"{campaign_prefix(campaign)}:reserved"


def task_results(campaign: str, generation: int, kind: str) -> str:
    """Hash: slot -> JSON result of one kind of task (e.g. breed) in a generation."""
    return (
        f"{campaign_prefix(campaign)}:results:{_part(generation, 'generation')}:"
        f"{_part(kind, 'result kind')}"
    )


def inflight(campaign: str) -> str:
    """Set: Celery task ids enqueued and not yet finished (revoked by kill)."""
    return f"{campaign_prefix(campaign)}:inflight"


def events(campaign: str, channel: str) -> str:
    """List: a mailbox the scheduler blocks on (BLPOP) for completions."""
    return f"{campaign_prefix(campaign)}:events:{_part(channel, 'event channel')}"


def lease(campaign: str) -> str:
    """String with TTL: which scheduler owns the campaign right now."""
    return f"{campaign_prefix(campaign)}:lease"


# ---- the fleet's shared economy (evofarm.fleet) ---------------------------------


def _model_part(model: str) -> str:
    """A model id as a key part (ids outside the safe alphabet are hashed)."""
    if _PART.match(model):
        return model
    import hashlib  # noqa: PLC0415 - rare path

    return "h-" + hashlib.sha256(model.encode()).hexdigest()[:32]


def _rate_prefix(provider: str) -> str:
    """A provider's rate-limit namespace; ``{provider}`` is the hash tag of all its keys."""
    return f"{ROOT}:fleet:rl:{{{_part(provider, 'provider')}}}"


def rate_bucket(provider: str, model: str | None = None) -> str:
    """Hash (TTL): a fleet token bucket's levels (r, i, o) and stamp (t) for a
    provider, or for one of its models."""
    base = _rate_prefix(provider)
    return base if model is None else f"{base}:m:{_model_part(model)}"


def rate_pause(provider: str) -> str:
    """String (TTL): epoch ms until which every worker leaves ``provider`` alone (a 429)."""
    return f"{_rate_prefix(provider)}:pause"


def ledger_held(campaign: str) -> str:
    """Hash: tokens and cost_micro_usd reserved by calls in flight (sum of ledger_reserved)."""
    return f"{campaign_prefix(campaign)}:ledger:held"


def ledger_reserved(campaign: str) -> str:
    """Hash: call id -> ``tokens:micro_usd:stamp_ms:role`` of a call in flight."""
    return f"{campaign_prefix(campaign)}:ledger:reserved"


def ledger_settled(campaign: str) -> str:
    """Set: call ids already counted (settle and record count an id once)."""
    return f"{campaign_prefix(campaign)}:ledger:settled"


# Each cache is one hash tag: its put script writes an entry and evicts others
# through the index, so entries and index must share a slot.
_RESPONSE_CACHE = f"{ROOT}:fleet:{{rc}}"
_EVALUATION_CACHE = f"{ROOT}:fleet:{{ec}}"


def response_cache_entry(key: str) -> str:
    """String (TTL): one cached provider response, as JSON (all campaigns share it)."""
    return f"{_RESPONSE_CACHE}:{_model_part(key)}"


def response_cache_index() -> str:
    """Sorted set: response-cache entry key -> ms it was stored (evicts oldest first)."""
    return f"{_RESPONSE_CACHE}-index"


def evaluation_cache_entry(key: str) -> str:
    """String (TTL): an evaluation shared by every campaign (genome, suite, fidelity, setup)."""
    return f"{_EVALUATION_CACHE}:{_model_part(key)}"


def evaluation_cache_index() -> str:
    """Sorted set: evaluation-cache entry key -> ms it was stored (evicts oldest first)."""
    return f"{_EVALUATION_CACHE}-index"
