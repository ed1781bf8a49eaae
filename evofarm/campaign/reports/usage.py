"""The summary's usage breakdown: per role from the budget ledger, cache hits apart.

``usage_by_role`` has one entry per role that made a call (``evaluation``:
candidates' LLM steps, ``proposer``: LLM operators and genesis, ``judge``:
``llm_judge`` checks), each with its billed tokens and cost and its calls
answered by a provider (``calls``) or by the response cache (``cached_calls``,
free). ``cache_hits`` counts what the caches saved: ``responses`` (cached calls
of every role) and ``evaluations`` (evaluations reused from another campaign).
The in-process loop and the farm's readback and dashboard all build them here,
from the ledger's totals, so they agree with the summary's ``tokens`` and
``cost_usd``.
"""

from __future__ import annotations

from collections.abc import Mapping

from evofarm.campaign.evaluation_cache import EVALUATION_CACHE_HITS
from evofarm.campaign.usage import usage_by_role
from evofarm.evolution.llm.usage import RoleTotal
from evofarm.providers.ledger import MICRO, LedgerTotals, totals_from_counters
from evofarm.store.base import COUNTER_COST, COUNTER_TOKENS


def role_breakdown(
    ledger: LedgerTotals | None, *, total_tokens: int, total_cost_usd: float
) -> dict[str, RoleTotal]:
    """``usage_by_role`` from the ledger's totals (every role's calls go through it);
    without a ledger (a custom evaluator) there is nothing to break down."""
    return usage_by_role(total_tokens, total_cost_usd, ledger.by_role if ledger else {})


def cache_hits(roles: Mapping[str, RoleTotal], evaluations: int = 0) -> dict[str, int]:
    """``{responses, evaluations}`` the caches answered; empty if none."""
    responses = sum(r.cached_calls or 0 for r in roles.values())
    if not responses and not evaluations:
        return {}
    return {"responses": responses, "evaluations": evaluations}


def from_counters(counters: Mapping[str, int]) -> tuple[dict[str, RoleTotal], dict[str, int]]:
    """``(usage_by_role, cache_hits)`` of a farm campaign, from its store counters."""
    roles = role_breakdown(
        totals_from_counters(counters),
        total_tokens=int(counters.get(COUNTER_TOKENS, 0)),
        total_cost_usd=int(counters.get(COUNTER_COST, 0)) / MICRO,
    )
    return roles, cache_hits(roles, int(counters.get(EVALUATION_CACHE_HITS, 0)))
