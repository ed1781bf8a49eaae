"""Reaching an embedded campaign's farm while it starts, runs, stops or is read by others.

Real redis-servers on a run directory's persisted data: the farm's own, and the
ones commands start just to read a stopped farm.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.spec import load_campaign
from evofarm.errors import StoreUnreachable
from evofarm.farm.embedded import FARM
from evofarm.farm.redis_server import LOCK, RedisServer, directory_served
from evofarm.farm.session import (
    READER,
    Farm,
    campaign_farm,
    connect_farm,
    embedded_farm,
    on_campaign_farm,
    run_dir,
)
from evofarm.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = "demo-session"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A state dir holding one submitted (stopped) embedded campaign."""
    settings = Settings(state_dir=tmp_path / "state")
    with RedisServer(run_dir(settings, CAMPAIGN) / "farm", persist=True, role=FARM) as server:
        store, app = connect_farm(server.url, server.url)
        control.submit(store, load_campaign(ROOT / "pipelines/campaigns/demo.yaml"),
                       campaign_id=CAMPAIGN)  # fmt: skip
        Farm(store, app).close()
    return settings


def _status(farm: Farm) -> str | None:
    return farm.store.get_status(CAMPAIGN)


def test_a_stopped_farm_is_read_through_a_redis_started_for_the_block(settings: Settings) -> None:
    farm_dir = run_dir(settings, CAMPAIGN) / "farm"
    with campaign_farm(settings, CAMPAIGN) as farm:
        assert _status(farm) == "submitted"
        assert directory_served(farm_dir)
    assert not directory_served(farm_dir)


def test_a_farm_that_stops_mid_read_is_read_again_from_its_data(settings: Settings) -> None:
    live = RedisServer(run_dir(settings, CAMPAIGN) / "farm", persist=True, role=FARM)
    live.start()
    calls: list[str] = []

    def read(farm: Farm) -> str | None:
        calls.append("read")
        if len(calls) == 1:
            live.stop()  # its campaign ended: the owner stops its farm
        return _status(farm)

    try:
        assert on_campaign_farm(settings, CAMPAIGN, read) == "submitted"
    finally:
        live.stop()
    assert calls == ["read", "read"]


def test_every_attempt_failing_raises_unreachable(settings: Settings) -> None:
    def read(farm: Farm) -> None:
        raise StoreUnreachable("cut")

    with pytest.raises(StoreUnreachable):
        on_campaign_farm(settings, CAMPAIGN, read)


def test_a_farm_starting_or_stopping_is_waited_for(settings: Settings) -> None:
    # Its owner holds the lock and its Redis does not answer yet: wait, then read.
    farm_dir = run_dir(settings, CAMPAIGN) / "farm"
    fd = os.open(farm_dir / LOCK, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    releaser = threading.Timer(1.0, os.close, args=(fd,))
    releaser.start()
    started = time.monotonic()
    with campaign_farm(settings, CAMPAIGN) as farm:
        assert _status(farm) == "submitted"
    assert time.monotonic() - started >= 0.9
    releaser.join()


def test_readers_side_by_side_share_one_server_at_a_time(settings: Settings) -> None:
    errors: list[BaseException] = []
    seen: list[str | None] = []

    def reader() -> None:
        try:
            for _ in range(15):
                seen.append(on_campaign_farm(settings, CAMPAIGN, _status))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert seen == ["submitted"] * 60


def test_a_readers_redis_is_not_a_running_farm(settings: Settings) -> None:
    farm_dir = run_dir(settings, CAMPAIGN) / "farm"
    reader = RedisServer(farm_dir, persist=True, role=READER)
    reader.start()
    stopper = threading.Timer(1.0, reader.stop)
    stopper.start()
    try:
        # Starting the farm waits for the reader instead of calling the campaign running.
        with embedded_farm(settings, CAMPAIGN, workers=0) as farm:
            assert _status(farm) == "submitted"
    finally:
        stopper.join()
        reader.stop()
