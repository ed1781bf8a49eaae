"""The dashboard in a real browser: headless Chromium logs in, opens a campaign, clicks a genome.

Skips only when no Chromium is installed (``.ci/run`` installs Debian's).
Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from evofarm.campaign.deployments import DeploymentRegistry
from evofarm.campaign.reports.readback import summary
from evofarm.dashboard.app import create_app
from evofarm.dashboard.source import StoreSource
from evofarm.store.memory import MemoryStore
from evofarm.testing.browser import Browser, find_chromium

from .conftest import TOKEN, ended_manual_campaign

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` on a loopback port, in a thread, for the test's duration."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "dashboard did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def server(source: StoreSource) -> Iterator[str]:
    with serving(create_app(source, TOKEN)) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    with Browser(CHROMIUM, width=1280, height=1500) as b:
        yield b


def test_log_in_open_a_campaign_click_a_genome(
    server: str, browser: Browser, farm_store: tuple[MemoryStore, str, str], tmp_path: Path
) -> None:
    _, done, _ = farm_store
    browser.goto(server + "/")
    assert browser.wait_for("location.pathname === '/login'")
    browser.type_into("#token", "wrong")
    browser.click("#login")
    assert browser.wait_for("document.getElementById('login-error') !== null")
    browser.type_into("#token", TOKEN)
    browser.click("#login")
    browser.wait_for("document.body.dataset.ready === '1'")
    assert browser.evaluate("location.pathname") == "/"
    rows = browser.wait_for("document.querySelectorAll('#campaigns tbody tr').length")
    assert rows >= 2
    browser.screenshot(tmp_path / "campaigns.png")

    browser.click(f"a.campaign-link[href='/campaigns/{done}']")
    browser.wait_for(f"location.pathname === '/campaigns/{done}'")
    browser.wait_for("document.body.dataset.ready === '1'")
    assert browser.evaluate("document.querySelectorAll('#trend polyline').length") == 2
    nodes = browser.evaluate("document.querySelectorAll('#lineage circle.node').length")
    assert nodes >= 4
    assert browser.evaluate("document.querySelectorAll('#operators tbody tr').length") > 0

    browser.click("#lineage circle.node[data-generation='1']")
    yaml = browser.wait_for(
        "(document.getElementById('genome-yaml') || {}).textContent || ''", timeout=10
    )
    assert "steps:" in yaml or "workflow:" in yaml
    assert browser.evaluate("document.querySelectorAll('#genome pre.diff').length") >= 1
    browser.screenshot(tmp_path / "campaign-top.png", full_page=False)
    shot = browser.screenshot(tmp_path / "campaign.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def _log_in(browser: Browser, url: str) -> None:
    browser.goto(url)
    assert browser.wait_for("location.pathname === '/login'")
    browser.type_into("#token", TOKEN)
    browser.click("#login")
    browser.wait_for("document.body.dataset.ready === '1'")


def test_approve_a_pending_winner_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    store = MemoryStore()
    campaign = ended_manual_campaign(store, 21)
    registry = DeploymentRegistry(tmp_path / "deployments")
    with serving(create_app(StoreSource(store), TOKEN, deployments=registry)) as url:
        _log_in(browser, f"{url}/campaigns/{campaign}")
        assert browser.evaluate("location.pathname") == f"/campaigns/{campaign}"
        state = "document.getElementById('approval-state').textContent"
        assert browser.evaluate(state) == "decision: pending"
        assert browser.evaluate("document.getElementById('approval-controls').hidden") is False
        browser.type_into("#approval-note", "ships it")
        browser.click("#approve")
        shown = browser.wait_for(f"{state}.includes('approved') && {state}", timeout=10)
        assert shown == "decision: approved by dashboard: ships it"
        result = browser.wait_for("document.getElementById('approval-result').textContent")
        assert result == "deployed demo v1"
        assert browser.evaluate("document.getElementById('approval-controls').hidden") is True
        browser.screenshot(tmp_path / "approved.png")
    assert summary(store, campaign).approval == "approved"
    assert [v.note for v in registry.index("demo").versions] == ["ships it"]
