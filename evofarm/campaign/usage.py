"""A summary's per-role usage (``evaluation``, ``proposer``, ``judge``) from the ledger.

The ledger's per-role totals (:meth:`~evofarm.providers.ledger.BudgetLedger.totals`,
or a farm campaign's store counters) are the one source; ``evaluation`` is
everything billed that no other role was, so an in-process custom evaluator's
reported usage lands there. The breakdown is a plain dict of
:class:`~evofarm.evolution.llm.usage.RoleTotal` so other figures can join it.
"""

from __future__ import annotations

from collections.abc import Mapping

from evofarm.evolution.llm.usage import RoleTotal
from evofarm.providers.ledger import MICRO, RoleTotals


def usage_by_role(
    total_tokens: int, total_cost_usd: float, by_role: Mapping[str, RoleTotals]
) -> dict[str, RoleTotal]:
    """The breakdown a summary shows (``total_*``: everything billed).

    Empty when no provider call was made (a campaign of pure transforms).
    """
    others = {r: t for r, t in by_role.items() if r != "evaluation" and (t.calls or t.cached_calls)}
    evaluation = by_role.get("evaluation", RoleTotals())
    if not others and not (evaluation.calls or evaluation.cached_calls):
        return {}
    out = {
        "evaluation": RoleTotal(
            tokens=max(0, total_tokens - sum(t.tokens for t in others.values())),
            cost_usd=round(
                max(0.0, total_cost_usd - sum(t.micro_usd for t in others.values()) / MICRO), 6
            ),
            calls=evaluation.calls,
            cached_calls=evaluation.cached_calls,
        )
    }
    for role, t in sorted(others.items()):
        out[role] = RoleTotal(
            tokens=t.tokens,
            cost_usd=round(t.cost_usd, 6),
            calls=t.calls,
            cached_calls=t.cached_calls,
        )
    return out
