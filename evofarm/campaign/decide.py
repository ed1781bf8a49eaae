"""Approve or reject a farm campaign's pending winner: the one path the CLI and dashboard share.

:func:`decide` records a human's :class:`~evofarm.campaign.approval.Decision` on
an ended campaign of ``store`` (see :func:`~evofarm.campaign.approval.decide_in_store`);
:func:`~evofarm.campaign.approval.deploy` then deploys an approval. ``evofarm
approve/reject`` and the dashboard's approve/reject buttons both call these, so
a decision made in either is the same record. It is a module of its own
because it reads the store back (:mod:`evofarm.campaign.reports.readback`),
which approving an in-process run does not need.
"""

from __future__ import annotations

from evofarm.campaign.approval import Decided, Decision, decide_in_store
from evofarm.campaign.bundle import decode
from evofarm.campaign.lifecycle import require
from evofarm.campaign.reports.readback import best_pipeline, summary
from evofarm.store.base import PopulationStore


def decide(store: PopulationStore, campaign: str, decision: Decision) -> Decided:
    """Record ``decision`` on ``campaign``; return its name, decided summary and winner.

    Raises:
        CampaignStateError: unknown id, not ended, or the winner is not pending.
    """
    pending = summary(store, campaign)
    best = best_pipeline(store, campaign) if pending.best.genome else None
    decide_in_store(store, campaign, pending, decision)
    name = decode(campaign, require(store, campaign).spec).spec.name
    return Decided(name, pending.model_copy(update={"approval": decision.state}), best)
