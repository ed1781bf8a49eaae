"""Evaluations shared across campaigns: the same genome on the same suite, evaluated once.

A genome is stored under the hash of its content and a suite's id is the hash
of its content, so ``(genome id, suite id, fidelity)`` names one piece of work
whatever campaign asks for it. Its result is the same in every campaign only
when the evaluator is deterministic and the campaign's evaluation environment
(fitness weights, provider bindings, model catalogue, sandbox limits, output
cap, plugins) is the same, so :func:`shared_key` hashes that environment into
the key and returns None for a campaign whose evaluations are not shareable.

A campaign shares with ``economy.share_evaluations: true`` (off by default):
its author states that its evaluator is deterministic (``mock`` providers,
temperature-0 calls, or sampled calls cached with ``economy.cache_sampled``).
Off by default because a reused evaluation costs nothing: a token budget then
lasts longer than in a fresh run, and the farm no longer reproduces the
in-process loop generation for generation.

Only outcomes a rerun would reproduce are shared (:data:`SHARED_OUTCOMES`):
timeouts and resource limits depend on the machine and its load, a refused
budget on the campaign. :class:`EvaluationCache` is the interface;
``evofarm.fleet.evaluation_cache.RedisEvaluationCache`` is the farm's, which
the worker bootstrap injects.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from evofarm.store.base import JSONDoc

if TYPE_CHECKING:  # bundle -> genesis -> proposer -> provider_stack imports this module
    from evofarm.campaign.bundle import Campaign

#: Evaluation outcomes that depend only on the genome, the suite and the providers.
SHARED_OUTCOMES = frozenset({"ok", "invalid", "candidate_error"})
#: The store counter of evaluations a campaign took from the cache.
EVALUATION_CACHE_HITS = "evaluation_cache_hits"
_ENVIRONMENT = {"plugins", "fitness", "providers", "models", "sandbox"}


@runtime_checkable
class EvaluationCache(Protocol):
    """Evaluation documents by :func:`shared_key`, shared by every campaign. Thread-safe."""

    def get(self, key: str) -> JSONDoc | None:
        """The evaluation stored under ``key``, or None."""
        ...

    def put(self, key: str, doc: JSONDoc) -> None:
        """Store ``doc`` under ``key`` (the first one stored stays)."""
        ...


def shareable(campaign: Campaign) -> bool:
    """Whether ``campaign``'s evaluations may be shared (see the module docs)."""
    return campaign.spec.economy.share_evaluations


def shared_key(campaign: Campaign, genome_id: str) -> str | None:
    """The fleet-wide key of evaluating ``genome_id`` for ``campaign``, or None if unshared."""
    if not shareable(campaign):
        return None
    spec = campaign.spec
    environment = spec.model_dump(mode="json", include=_ENVIRONMENT)
    environment["max_output_tokens"] = spec.economy.max_output_tokens
    digest = hashlib.sha256(
        json.dumps(environment, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:16]
    return f"{genome_id}.{campaign.suite_id}.{campaign.fidelity}.{digest}"
