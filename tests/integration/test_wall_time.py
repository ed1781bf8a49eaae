"""Wall time runs from submission, also with no worker consuming: the budget still ends it.

Real Redis (the session's private server) as store and broker, the real Celery
dispatcher, and no worker process at all: every evaluation task stays queued.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import snapshot
from evofarm.campaign.scheduler.driver import Outcome, Scheduler, SchedulerOptions
from evofarm.campaign.scheduler.wallclock import WRITE_EVERY_S
from evofarm.farm.dispatch import CeleryDispatcher
from evofarm.farm.session import connect_farm
from evofarm.store.base import PopulationStore

from .conftest import small_demo


@pytest.fixture
def no_worker_farm(redis_url: str) -> Iterator[tuple[PopulationStore, CeleryDispatcher]]:
    store, app = connect_farm(redis_url, redis_url)
    try:
        yield store, CeleryDispatcher(app)
    finally:
        app.close()


def test_wall_time_grows_and_the_budget_ends_a_campaign_no_worker_consumes(
    no_worker_farm: tuple[PopulationStore, CeleryDispatcher],
) -> None:
    store, dispatcher = no_worker_farm
    campaign = control.submit(store, small_demo(2, max_wall_s=4.0), seed=1)
    time.sleep(1.0)
    waited = snapshot(store, campaign)  # no scheduler yet: counted from submission
    assert waited.status == "submitted" and waited.wall_s >= 1.0

    scheduler = Scheduler(store, dispatcher, campaign, options=SchedulerOptions(wait_s=0.2))
    outcome: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcome.append(scheduler.run()), daemon=True)
    started = time.monotonic()
    thread.start()
    seen: list[float] = []
    while thread.is_alive() and time.monotonic() - started < 20:
        snap = snapshot(store, campaign)
        if snap.status == "running":
            seen.append(snap.wall_s)
        time.sleep(0.3)
    thread.join(timeout=10)
    took = time.monotonic() - started

    (ended,) = outcome
    assert ended.status == "stopped" and ended.reason.startswith("budget exceeded: wall time")
    assert ended.generation == 0 and store.counters(campaign).get("evaluations", 0) == 0
    # The second the campaign waited before the scheduler took it counted: it ends
    # about 3s after the scheduler started, not 4.
    assert 2.0 < took < 4.0 + 2 * WRITE_EVERY_S
    # While it waited, wall_s was kept current (written every WRITE_EVERY_S) and grew.
    assert seen and max(seen) > seen[0] >= 1.0
    final = snapshot(store, campaign)
    assert final.status == "stopped" and final.wall_s >= 4.0
    assert store.crossed_budget(campaign) == "wall_s"
