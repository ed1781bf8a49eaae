"""The dashboard's HTTP surface: the token, the pages, the JSON API, the control calls."""

from __future__ import annotations

from collections.abc import Collection

import pytest
from fastapi.testclient import TestClient

from evofarm.campaign import control
from evofarm.campaign.spec import load_campaign
from evofarm.dashboard import auth
from evofarm.dashboard.app import create_app
from evofarm.dashboard.source import StoreSource
from evofarm.store.memory import MemoryStore

from .conftest import DEMO, TOKEN

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(source: StoreSource) -> TestClient:
    return TestClient(create_app(source, TOKEN), follow_redirects=False)


@pytest.mark.parametrize(
    "path", ["/", "/campaigns/x", "/static/dashboard.js", "/api/campaigns", "/metrics"]
)
def test_every_route_needs_the_token(client: TestClient, path: str) -> None:
    response = client.get(path)
    if path.startswith(("/api/", "/metrics")):
        assert response.status_code == 401 and "token" in response.json()["error"]
    else:
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    wrong = client.get(path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code in {401, 303}


def test_login_sets_a_strict_cookie_and_refuses_a_wrong_token(client: TestClient) -> None:
    assert "token" in client.get("/login").text
    bad = client.post("/login", data={"token": "wrong", "next": "/"})
    assert bad.status_code == 303 and "failed=1" in bad.headers["location"]
    assert auth.COOKIE not in bad.cookies
    good = client.post("/login", data={"token": TOKEN, "next": "//evil.example/"})
    assert good.status_code == 303 and good.headers["location"] == "/"
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/api/campaigns").status_code == 200  # the cookie now works


def test_the_campaign_list(client: TestClient, farm_store: tuple[MemoryStore, str, str]) -> None:
    _, done, waiting = farm_store
    data = client.get("/api/campaigns", headers=HEADERS).json()
    rows = {r["id"]: r for r in data["campaigns"]}
    assert {done, waiting} <= set(rows)
    assert rows[done]["status"] == "completed" and rows[done]["generation"] == 3
    assert rows[done]["best_fitness"] is not None and rows[done]["tokens"] > 0
    assert rows[waiting]["workers_online"] == 0 and rows[waiting]["queues"]["evaluate"] == 5
    page = client.get("/", headers=HEADERS)
    assert page.status_code == 200 and "/static/dashboard.js" in page.text
    assert "cdn" not in page.text.lower() and "http" not in page.text.split("<body")[1]


def test_campaign_detail_history_and_lineage(
    client: TestClient, farm_store: tuple[MemoryStore, str, str]
) -> None:
    _, done, waiting = farm_store
    base = f"/api/campaigns/{done}"
    detail = client.get(base, headers=HEADERS).json()
    assert detail["best"] and detail["approval"] in {"pending", "approved", "rejected"}
    history = client.get(base + "/history", headers=HEADERS).json()
    assert [h["generation"] for h in history] == [0, 1, 2, 3]
    assert all(h["best"] is not None for h in history)
    assert history[-1]["best"] == pytest.approx(detail["best_fitness"])
    graph = client.get(base + "/lineage", headers=HEADERS).json()
    born = {n["id"]: n["generation"] for n in graph["nodes"]}
    assert all({"id", "generation", "fitness", "operator"} <= set(n) for n in graph["nodes"])
    pairs = [(e["parent"], e["child"]) for e in graph["edges"]]
    assert pairs and len(pairs) == len(set(pairs))
    assert all(born[p] < born[c] for p, c in pairs)
    # the live no-worker anomaly of the campaign that waits with no worker
    found = client.get(f"/api/campaigns/{waiting}", headers=HEADERS).json()["anomalies"]
    assert any(
        a["kind"] == "no_worker" and "queue evaluate (5 tasks waiting)" in a["message"]
        for a in found
    )


def test_genome_operators_museum_gallery(
    client: TestClient, farm_store: tuple[MemoryStore, str, str]
) -> None:
    _, done, _ = farm_store
    base = f"/api/campaigns/{done}"
    graph = client.get(base + "/lineage", headers=HEADERS).json()
    child = next(n for n in graph["nodes"] if n["parents"])
    genome = client.get(f"{base}/genomes/{child['id']}", headers=HEADERS).json()
    assert genome["yaml"].startswith(("workflow:", "name:")) or "workflow:" in genome["yaml"]
    assert len(genome["diffs"]) == len(set(child["parents"]))
    assert genome["mutations"] and all("rationale" in m for m in genome["mutations"])
    assert genome["evaluation"] is None or genome["evaluation"]["cases"]
    ops = client.get(base + "/operators", headers=HEADERS).json()
    assert ops and all({"valid_child_rate", "improvement_rate"} <= set(o) for o in ops)
    assert client.get(base + "/museum", headers=HEADERS).status_code == 200
    assert isinstance(client.get(base + "/gallery", headers=HEADERS).json(), list)
    missing = client.get(f"{base}/genomes/nope", headers=HEADERS)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_stop_and_kill_go_through_the_control_calls() -> None:
    store = MemoryStore()
    spec = load_campaign(DEMO)
    one = control.submit(store, spec, seed=1)
    two = control.submit(store, spec, seed=2)
    store.add_inflight(two, ["t1", "t2"])
    revoked: list[str] = []

    def revoke(ids: Collection[str]) -> None:
        revoked.extend(ids)

    client = TestClient(create_app(StoreSource(store, revoke=revoke), TOKEN))
    assert client.post(f"/api/campaigns/{one}/stop").status_code == 401
    assert client.post(f"/api/campaigns/{one}/stop", headers=HEADERS).json()["stop_requested"]
    record = store.get_campaign(one)
    assert record is not None and record.info.get("stop_requested")
    assert client.post(f"/api/campaigns/{two}/kill", headers=HEADERS).json()["killed"]
    assert store.get_status(two) == "killed" and sorted(revoked) == ["t1", "t2"]


def test_metrics_in_prometheus_text(
    client: TestClient, farm_store: tuple[MemoryStore, str, str]
) -> None:
    _, done, _ = farm_store
    text = client.get("/metrics", headers=HEADERS).text
    for family in (
        "evofarm_evaluations_total",
        "evofarm_evaluation_latency_seconds_bucket",
        "evofarm_tokens_total",
        "evofarm_cost_usd_total",
        "evofarm_queue_depth",
        "evofarm_workers_online",
        "evofarm_generation",
        "evofarm_best_fitness",
    ):
        assert family in text, family
    assert f'evofarm_generation{{campaign="{done}"}} 3.0' in text
    assert f'evofarm_tokens_total{{campaign="{done}",role="candidate"}}' in text


def test_gallery_lists_each_new_pattern_once(farm_store: tuple[MemoryStore, str, str]) -> None:
    from evofarm.dashboard import views  # noqa: PLC0415

    store, done, _ = farm_store
    found = views.gallery(store, done)
    patterns = [g["pattern"] for g in found]
    assert len(patterns) == len(set(patterns))
    seeds = [d for d in store.get_genomes(done, sorted(store.genome_ids(done))) if d]
    seed_patterns = {
        views.pattern_of(s) for d in seeds if d["generation"] == 0 for s in d["pipeline"]["steps"]
    }
    assert not seed_patterns & set(patterns)
    assert all(g["generation"] > 0 for g in found)


@pytest.mark.parametrize("campaign", ["no-such-campaign", "bad:id", "-dash"])
def test_unknown_campaigns_are_404(client: TestClient, campaign: str) -> None:
    for path in (f"/api/campaigns/{campaign}", f"/api/campaigns/{campaign}/history"):
        response = client.get(path, headers=HEADERS)
        assert response.status_code in {404}, (path, response.status_code)
    assert client.get(f"/campaigns/{campaign}", headers=HEADERS).status_code == 404
