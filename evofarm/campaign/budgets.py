"""Campaign budgets on the farm: exact across every worker, checked atomically.

The campaign file's budgets (``max_evaluations``, ``max_tokens``, ``max_usd``,
``max_wall_s``) map onto store counters. Workers add an evaluation's usage in
the same atomic step that records it, and that step flags the first budget
whose counter reached its limit (:meth:`PopulationStore.record_evaluation`), so
no interleaving of workers can miss or double-count a crossing. Wall time is
the scheduler's own clock, summed over every run of the campaign.

As in the in-process loop, crossing a budget stops the campaign after the
generation in progress, with the budget's name recorded as the reason.
"""

from __future__ import annotations

from evofarm.campaign.spec import CampaignBudgets
from evofarm.store.base import COUNTER_COST, COUNTER_EVALUATIONS, COUNTER_TOKENS, PopulationStore

MICRO = 1_000_000

#: Store counter -> campaign-file budget name.
SPEC_NAME = {
    COUNTER_EVALUATIONS: "max_evaluations",
    COUNTER_TOKENS: "max_tokens",
    COUNTER_COST: "max_usd",
    "wall_s": "max_wall_s",
}


def usd_to_micro(usd: float) -> int:
    """US dollars as integer micro-dollars (exact sums; rounding per evaluation)."""
    return round(usd * MICRO)


def counter_limits(budgets: CampaignBudgets) -> dict[str, int]:
    """The store limits the workers' atomic record checks (unset budgets are absent).

    ``max_evaluations`` is not among them: it is a hard cap the scheduler checks
    before sending a generation's evaluations (:func:`evaluations_exceeded`), as
    the in-process loop does, so no evaluation past it is ever started.
    """
    limits: dict[str, int] = {}
    if budgets.max_tokens is not None:
        limits[COUNTER_TOKENS] = budgets.max_tokens
    if budgets.max_usd is not None:
        limits[COUNTER_COST] = usd_to_micro(budgets.max_usd)
    return limits


def check_wall_time(
    store: PopulationStore, campaign: str, budgets: CampaignBudgets, wall_s: float
) -> str | None:
    """Flag the wall-time budget if ``wall_s`` reached it; return the crossed budget."""
    if budgets.max_wall_s is not None and wall_s >= budgets.max_wall_s:
        store.mark_budget_crossed(campaign, "wall_s")
    return store.crossed_budget(campaign)


def describe(
    store: PopulationStore,
    campaign: str,
    crossed: str,
    budgets: CampaignBudgets,
    wall_s: float,
) -> str:
    """The reason for a crossed budget, worded as the in-process loop words it."""
    counters = store.counters(campaign)
    limits = store.budgets(campaign)
    if crossed == "wall_s":
        return f"budget exceeded: wall time ({wall_s:.1f}s >= {budgets.max_wall_s}s)"
    if crossed == COUNTER_COST:
        used = counters.get(COUNTER_COST, 0) / MICRO
        limit = limits.get(COUNTER_COST, 0) / MICRO
        return f"budget exceeded: usd ({used:.4f} >= {limit:g})"
    used_count = counters.get(crossed, 0)
    return f"budget exceeded: {crossed} ({used_count} >= {limits.get(crossed, 0)})"


def evaluations_exceeded(
    store: PopulationStore, campaign: str, budgets: CampaignBudgets, more: int
) -> str | None:
    """Why ``more`` evaluations may not start (the hard cap), or None if they may."""
    cap = budgets.max_evaluations
    done = store.counters(campaign).get(COUNTER_EVALUATIONS, 0)
    if cap is not None and done + more > cap:
        store.mark_budget_crossed(campaign, COUNTER_EVALUATIONS)
        return f"budget exceeded: evaluations ({done} done, {more} more needed, cap {cap})"
    return None
