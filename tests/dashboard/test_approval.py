"""Approve / reject from the dashboard: the CLI's decision record, token- and CSRF-guarded."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evofarm.campaign.deployments import DeploymentRegistry
from evofarm.campaign.reports.readback import summary
from evofarm.dashboard import auth
from evofarm.dashboard.app import CSRF_HEADER, create_app
from evofarm.dashboard.source import StoreSource
from evofarm.store.memory import MemoryStore

from .conftest import TOKEN, ended_manual_campaign

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def manual() -> tuple[MemoryStore, str, str]:
    """(store, a campaign to approve, one to reject), both ended and pending."""
    store = MemoryStore()
    return store, ended_manual_campaign(store, 11), ended_manual_campaign(store, 12)


def test_approve_deploys_the_winner_once(
    manual: tuple[MemoryStore, str, str], tmp_path: Path
) -> None:
    store, campaign, _ = manual
    registry = DeploymentRegistry(tmp_path / "deployments")
    client = TestClient(create_app(StoreSource(store), TOKEN, deployments=registry))
    url = f"/api/campaigns/{campaign}/approve"
    detail = client.get(f"/api/campaigns/{campaign}", headers=HEADERS).json()
    assert detail["approval"] == "pending" and detail["decision"] is None

    assert client.post(url, json={"note": "x"}).status_code == 401
    # The login cookie alone is not enough for a POST: it also needs the page's header.
    client.cookies.set(auth.COOKIE, TOKEN)
    refused = client.post(url, json={"note": "x"})
    assert refused.status_code == 403 and CSRF_HEADER in refused.json()["error"]
    assert summary(store, campaign).approval == "pending"  # nothing recorded

    done = client.post(url, json={"note": "looks right", "by": "ana"}, headers={CSRF_HEADER: "1"})
    assert done.status_code == 200, done.text
    assert done.json()["version"] == 1 and done.json()["deployed"] == "demo"
    decided = summary(store, campaign)  # what `evofarm approve` and summary.json read
    assert decided.approval == "approved"
    (version,) = registry.index("demo").versions
    assert (version.campaign, version.by, version.note) == (campaign, "ana", "looks right")
    assert version.genome == decided.best.genome
    assert registry.pipeline("demo").steps  # the winner's YAML is deployed
    detail = client.get(f"/api/campaigns/{campaign}", headers=HEADERS).json()
    assert detail["approval"] == "approved" and detail["decision"]["by"] == "ana"

    again = client.post(url, json={}, headers=HEADERS)
    assert again.status_code == 409 and "not pending" in again.json()["error"]
    assert len(registry.index("demo").versions) == 1


def test_reject_needs_a_note_and_deploys_nothing(
    manual: tuple[MemoryStore, str, str], tmp_path: Path
) -> None:
    store, _, campaign = manual
    registry = DeploymentRegistry(tmp_path / "deployments")
    client = TestClient(create_app(StoreSource(store), TOKEN, deployments=registry))
    url = f"/api/campaigns/{campaign}/reject"
    empty = client.post(url, json={"note": "  "}, headers=HEADERS)
    assert empty.status_code == 400 and "note" in empty.json()["error"]
    bad = client.post(url, json={"note": "n" * 2001}, headers=HEADERS)
    assert bad.status_code == 400
    done = client.post(url, json={"note": "overfits the suite"}, headers=HEADERS)
    assert done.status_code == 200 and done.json()["approval"] == "rejected"
    assert summary(store, campaign).approval == "rejected"
    record = store.get_campaign(campaign)
    assert record is not None and record.info["approval_note"] == "overfits the suite"
    assert record.info["approval_by"] == "dashboard"
    assert registry.names() == []


def test_undecidable_campaigns(farm_store: tuple[MemoryStore, str, str], tmp_path: Path) -> None:
    store, done, waiting = farm_store  # auto policy; and one that never ran
    registry = DeploymentRegistry(tmp_path / "deployments")
    client = TestClient(create_app(StoreSource(store), TOKEN, deployments=registry))
    auto = client.post(f"/api/campaigns/{done}/approve", json={}, headers=HEADERS)
    assert auto.status_code == 409 and "not pending" in auto.json()["error"]
    running = client.post(f"/api/campaigns/{waiting}/approve", json={}, headers=HEADERS)
    assert running.status_code == 409 and "still submitted" in running.json()["error"]
    missing = client.post("/api/campaigns/nope/approve", json={}, headers=HEADERS)
    assert missing.status_code == 404
    no_registry = TestClient(create_app(StoreSource(store), TOKEN))
    assert (
        no_registry.post(f"/api/campaigns/{done}/approve", json={}, headers=HEADERS).status_code
        == 503
    )
    assert registry.names() == []
