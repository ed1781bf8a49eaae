"""What a watcher adds to a snapshot: budget use in percent and an ETA (pure).

Used by ``evofarm watch`` and ``status``; the dashboard shows the same figures.
"""

from __future__ import annotations

from evofarm.campaign.reports.readback import Snapshot
from evofarm.campaign.spec import CampaignBudgets


def budget_use(budgets: CampaignBudgets, snap: Snapshot) -> dict[str, float]:
    """Percent used of each set budget (``evaluations``, ``tokens``, ``usd``, ``wall_s``)."""
    pairs = (
        ("evaluations", snap.evaluations, budgets.max_evaluations),
        ("tokens", snap.tokens, budgets.max_tokens),
        ("usd", snap.cost_usd, budgets.max_usd),
        ("wall_s", snap.wall_s, budgets.max_wall_s),
    )
    return {name: round(100.0 * used / limit, 1) for name, used, limit in pairs if limit}


def eta_s(snap: Snapshot) -> float | None:
    """Seconds left at the pace so far (None before the first generation ends)."""
    if snap.generation <= 0 or snap.wall_s <= 0 or snap.generations <= snap.generation:
        return None if snap.generations > snap.generation else 0.0
    return snap.wall_s / snap.generation * (snap.generations - snap.generation)


def describe_extra(budgets: CampaignBudgets, snap: Snapshot, workers_online: int | None) -> str:
    """``ETA 12s  budget tokens 40%  workers 2`` (parts that are unknown are left out)."""
    parts = []
    eta = eta_s(snap)
    if eta is not None:
        parts.append(f"ETA {eta:.0f}s")
    use = budget_use(budgets, snap)
    if use:
        parts.append("budget " + " ".join(f"{k} {v:.0f}%" for k, v in use.items()))
    if workers_online is not None:
        parts.append(f"workers {workers_online}")
    return "  ".join(parts)
