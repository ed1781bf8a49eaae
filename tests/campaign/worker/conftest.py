"""Shared set-up for worker-side tests: the demo campaign submitted and running in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.campaign import control, lifecycle
from evofarm.campaign.bundle import CampaignCache
from evofarm.campaign.spec import load_campaign
from evofarm.store.memory import MemoryStore

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"


@pytest.fixture
def farm() -> tuple[MemoryStore, str, CampaignCache]:
    """A memory store holding the demo campaign (seed 2) marked running, its id, a fresh cache."""
    store = MemoryStore()
    campaign = control.submit(store, load_campaign(DEMO), seed=2)
    lifecycle.mark_running(store, campaign)
    return store, campaign, CampaignCache()
