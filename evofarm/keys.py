"""Every Redis key name evofarm uses, in one place.

Per-campaign keys live under ``evofarm:c:{campaign}:``, so campaigns sharing one
Redis never collide and one campaign can be listed or purged by prefix. The
global keys are the campaign index and the collective memory's
(``evofarm:memory:*``, shared by all campaigns). Celery's own
broker keys are kombu's and are not listed here.

Campaign ids are validated (:func:`check_campaign_id`) so no id can contain the
separator or a glob character and escape its namespace.
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


def memory_patterns() -> str:
    """Hash: pattern key -> the pattern's first record (collective memory, all campaigns)."""
    return f"{ROOT}:memory:patterns"


def memory_pattern_winners() -> str:
    """Hash: pattern key -> further campaign winners that contained it."""
    return f"{ROOT}:memory:pattern-winners"


def memory_gallery() -> str:
    """List: pattern keys in order of first appearance (the innovation gallery)."""
    return f"{ROOT}:memory:gallery"


def memory_failures() -> str:
    """Hash: failure key -> the failure's first record (the failure museum)."""
    return f"{ROOT}:memory:failures"


def memory_failure_counts() -> str:
    """Hash: failure key -> times recorded."""
    return f"{ROOT}:memory:failure-counts"


# ---- per campaign -------------------------------------------------------------


def campaign_prefix(campaign: str) -> str:
    """The namespace of one campaign (no trailing separator)."""
    return f"{ROOT}:c:{check_campaign_id(campaign)}"


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


def rate_bucket(provider: str, model: str | None = None) -> str:
    """Hash (TTL): a fleet token bucket's levels (r, i, o) and stamp (t) for a
    provider, or for one of its models."""
    base = f"{ROOT}:fleet:rl:{_part(provider, 'provider')}"
    return base if model is None else f"{base}:m:{_model_part(model)}"


def rate_pause(provider: str) -> str:
    """String (TTL): epoch ms until which every worker leaves ``provider`` alone (a 429)."""
    return f"{ROOT}:fleet:rl:{_part(provider, 'provider')}:pause"


def ledger_held(campaign: str) -> str:
    """Hash: tokens and cost_micro_usd reserved by calls in flight (sum of ledger_reserved)."""
    return f"{campaign_prefix(campaign)}:ledger:held"


def ledger_reserved(campaign: str) -> str:
    """Hash: call id -> ``tokens:micro_usd:stamp_ms:role`` of a call in flight."""
    return f"{campaign_prefix(campaign)}:ledger:reserved"


def ledger_settled(campaign: str) -> str:
    """Set: call ids already counted (settle and record count an id once)."""
    return f"{campaign_prefix(campaign)}:ledger:settled"


def response_cache_entry(key: str) -> str:
    """String (TTL): one cached provider response, as JSON (all campaigns share it)."""
    return f"{ROOT}:fleet:rc:{_model_part(key)}"


def response_cache_index() -> str:
    """Sorted set: response-cache entry key -> ms it was stored (evicts oldest first)."""
    return f"{ROOT}:fleet:rc-index"


def evaluation_cache_entry(key: str) -> str:
    """String (TTL): an evaluation shared by every campaign (genome, suite, fidelity, setup)."""
    return f"{ROOT}:fleet:ec:{_model_part(key)}"


def evaluation_cache_index() -> str:
    """Sorted set: evaluation-cache entry key -> ms it was stored (evicts oldest first)."""
    return f"{ROOT}:fleet:ec-index"
