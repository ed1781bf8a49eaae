"""A finished demo campaign in a memory store, shared by the dashboard tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import load_campaign
from evofarm.dashboard.source import Fleet, StoreSource
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"
TOKEN = "test-token-123"


@pytest.fixture(scope="session")
def farm_store() -> tuple[MemoryStore, str, str]:
    """(store, a completed campaign, a submitted one that never ran)."""
    spec = load_campaign(DEMO)
    spec = spec.model_copy(
        update={"evolution": spec.evolution.model_copy(update={"generations": 3})}
    )
    store = MemoryStore()
    campaign = control.submit(store, spec, seed=9)
    dispatcher = ThreadDispatcher(store, synthetic_eval.factory(1), workers=2)
    Scheduler(store, dispatcher, campaign, options=SchedulerOptions(wait_s=0.1)).run()
    dispatcher.close()
    waiting = control.submit(store, spec, seed=3)
    return store, campaign, waiting


def ended_manual_campaign(store: MemoryStore, seed: int) -> str:
    """A two-generation demo campaign whose winner waits on ``approval: {policy: manual}``."""
    spec = load_campaign(DEMO)
    spec = spec.model_copy(
        update={
            "evolution": spec.evolution.model_copy(update={"generations": 2}),
            "approval": spec.approval.model_copy(update={"policy": "manual"}),
        }
    )
    campaign = control.submit(store, spec, seed=seed)
    dispatcher = ThreadDispatcher(store, synthetic_eval.factory(1), workers=2)
    Scheduler(store, dispatcher, campaign, options=SchedulerOptions(wait_s=0.1)).run()
    dispatcher.close()
    return campaign


@pytest.fixture
def source(farm_store: tuple[MemoryStore, str, str]) -> StoreSource:
    store, _, _ = farm_store
    return StoreSource(store, fleet=lambda: Fleet(0, {"breed": 0, "mutate": 0, "evaluate": 5}))
