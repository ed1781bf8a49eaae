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
from evofarm.evolution.llm.usage import RoleTotal, RoleUsage, usage_by_role
from evofarm.providers.ledger import LedgerTotals, RoleTotals, totals_from_counters


def _entry(totals: RoleTotals) -> RoleTotal:
    return RoleTotal(
        tokens=totals.tokens,
        cost_usd=round(totals.cost_usd, 6),
        calls=totals.calls,
        cached_calls=totals.cached_calls,
    )


def role_breakdown(
    ledger: LedgerTotals | None,
    proposer: RoleUsage | None,
    *,
    total_tokens: int = 0,
    total_cost_usd: float = 0.0,
) -> dict[str, RoleTotal]:
    """``usage_by_role`` from the ledger's totals; proposer usage carried outside the
    ledger (breed workers' ``BreedResult``) fills the ``proposer`` role if the ledger
    has none. Without a ledger (a custom evaluator), the evaluation share is the
    total less the proposer's, as far as it is known."""
    if ledger is None:
        return usage_by_role(total_tokens, total_cost_usd, proposer)
    out = {role: _entry(t) for role, t in ledger.by_role.items() if t.calls or t.cached_calls}
    if proposer is not None and not proposer.empty and "proposer" not in out:
        out["proposer"] = RoleTotal(
            tokens=proposer.tokens,
            cost_usd=round(proposer.cost_usd, 6),
            calls=proposer.calls,
            cached_calls=proposer.cached_calls,
        )
    return out


def cache_hits(roles: Mapping[str, RoleTotal], evaluations: int = 0) -> dict[str, int]:
    """``{responses, evaluations}`` the caches answered; empty if none."""
    responses = sum(r.cached_calls or 0 for r in roles.values())
    if not responses and not evaluations:
        return {}
    return {"responses": responses, "evaluations": evaluations}


def from_counters(
    counters: Mapping[str, int], proposer: RoleUsage | None
) -> tuple[dict[str, RoleTotal], dict[str, int]]:
    """``(usage_by_role, cache_hits)`` of a farm campaign, from its store counters."""
    roles = role_breakdown(totals_from_counters(dict(counters)), proposer)
    return roles, cache_hits(roles, int(counters.get(EVALUATION_CACHE_HITS, 0)))
