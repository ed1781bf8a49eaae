"""Budget use and ETA of a snapshot."""

from __future__ import annotations

from evofarm.campaign.reports.progress import budget_use, describe_extra, eta_s
from evofarm.campaign.reports.readback import Snapshot
from evofarm.campaign.spec import CampaignBudgets


def snap(generation: int, wall_s: float) -> Snapshot:
    return Snapshot("c", "running", "", generation, 10, 0.5, 40, 500, 0.25, wall_s)


def test_budget_use_counts_only_set_budgets() -> None:
    budgets = CampaignBudgets(max_tokens=1000, max_wall_s=100)
    assert budget_use(budgets, snap(2, 25.0)) == {"tokens": 50.0, "wall_s": 25.0}
    assert budget_use(CampaignBudgets(), snap(2, 25.0)) == {}


def test_eta_from_the_pace_so_far() -> None:
    assert eta_s(snap(0, 5.0)) is None
    assert eta_s(snap(2, 20.0)) == 80.0
    assert eta_s(snap(10, 20.0)) == 0.0
    line = describe_extra(CampaignBudgets(max_usd=1.0), snap(5, 10.0), 3)
    assert line == "ETA 10s  budget usd 25%  workers 3"
