"""The kill switch when the broker is gone."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from evofarm.campaign import control, lifecycle
from evofarm.errors import StoreError
from evofarm.farm.app import make_celery_app
from evofarm.farm.dispatch import CeleryDispatcher
from evofarm.settings import Settings
from evofarm.store.memory import MemoryStore

C = "c1"


def _unreachable(task_ids: Collection[str]) -> None:
    raise StoreError("could not reach the broker")


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    s.create_campaign(C, {})
    lifecycle.mark_running(s, C)
    s.add_inflight(C, ["t1", "t2"])
    return s


def test_killing_an_ended_campaign_tolerates_a_vanished_broker(store: MemoryStore) -> None:
    assert control.kill(store, C, lambda ids: None)
    assert not control.kill(store, C, _unreachable)  # its farm may already be gone


def test_killing_a_live_campaign_reports_an_unreachable_broker(store: MemoryStore) -> None:
    with pytest.raises(StoreError, match="broker"):
        control.kill(store, C, _unreachable)
    assert store.get_status(C) == "killed"  # ended all the same: workers skip its tasks


@pytest.mark.slow
def test_revoke_on_an_unreachable_broker_is_a_store_error() -> None:
    url = "redis+socket:///nonexistent-evofarm/redis.sock"
    app = make_celery_app(Settings(broker_url=url, redis_url=url))
    with pytest.raises(StoreError, match="could not reach the broker"):
        CeleryDispatcher(app).revoke(["t1"])
