"""Scheduler faults: SIGKILLed and adopted by the scheduler service; kill with exact counts.

A campaign submitted to a shared farm is taken by a scheduler service process;
SIGKILLed, it shows ``interrupted`` (with the resume command) once its lease
has expired, and a second service adopts it and finishes it with the
in-process best, every evaluation counted once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.campaign.scheduler import liveness
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.scheduler.service import SchedulerService, ServiceOptions
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm.session import Farm
from tests.integration.conftest import FARM_ENV

from .conftest import assert_exact_counts, in_process_best, wait_until

pytestmark = pytest.mark.integration

Demo = Callable[..., CampaignSpec]
FAST = SchedulerOptions(wait_s=0.2, lease_ttl_s=3.0, stall_s=12.0, outage_s=None)


def _service_process(redis_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **FARM_ENV,
           "EVOFARM_BROKER_URL": redis_url, "EVOFARM_REDIS_URL": redis_url}  # fmt: skip
    code = "from evofarm.cli.main import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "scheduler", "--poll", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _generation(farm: Farm, campaign: str) -> int:
    checkpoint = farm.store.load_checkpoint(campaign)
    return -1 if checkpoint is None else checkpoint.generation


def test_a_sigkilled_scheduler_service_s_campaign_is_adopted(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=7)
    best, status, reason = in_process_best(spec, seed=31)
    assert farm.embedded is not None
    first = _service_process(farm.embedded.redis_url)
    try:
        campaign = control.submit(farm.store, spec, seed=31)
        assert control.wait_taken(farm.store, campaign, 30), "the service did not take it"
        wait_until(lambda: _generation(farm, campaign) >= 2, what="generation 2")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    assert farm.store.get_status(campaign) == "running"
    wait_until(
        lambda: liveness.shown_status(farm.store, campaign, "running")[0] == "interrupted",
        timeout=20,
        what="interrupted",
    )
    shown = liveness.shown_status(farm.store, campaign, "running")
    assert f"evofarm resume {campaign}" in shown[1]
    service = SchedulerService(
        farm.store, farm.dispatcher(), scheduler_options=FAST, options=ServiceOptions(poll_s=0.2)
    )
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        wait_until(lambda: bool(service.outcomes), timeout=60, what="the adopted campaign's end")
    finally:
        service.stop()
        thread.join(30)
    adopted, outcome = service.outcomes[0]
    assert adopted == campaign
    assert (outcome.status, outcome.reason) == (status, reason)
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)


def test_a_stopping_service_hands_its_campaign_back(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=6)
    best, status, _ = in_process_best(spec, seed=32)
    campaign = control.submit(farm.store, spec, seed=32)
    options = ServiceOptions(poll_s=0.1)
    first = SchedulerService(farm.store, farm.dispatcher(), scheduler_options=FAST, options=options)
    thread = threading.Thread(target=first.run)
    thread.start()
    wait_until(lambda: _generation(farm, campaign) >= 1, what="generation 1")
    first.stop()
    thread.join(30)
    assert farm.store.get_status(campaign) == "running"
    second = SchedulerService(
        farm.store, farm.dispatcher(), scheduler_options=FAST, options=options
    )
    started = time.monotonic()
    assert second.poll_once() == [campaign]  # no lease to wait out: it was released
    wait_until(lambda: bool(second.outcomes), timeout=60, what="the campaign's end")
    second.stop()
    assert time.monotonic() - started < 60
    assert second.outcomes[0][1].status == status
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(farm, campaign)


def test_kill_mid_generation_leaves_exact_counts(farm: Farm, demo: Demo) -> None:
    campaign = control.submit(farm.store, demo(generations=500), seed=33)
    scheduler = Scheduler(farm.store, farm.dispatcher(), campaign, options=FAST)

    def kill() -> None:
        wait_until(lambda: _generation(farm, campaign) >= 2, what="generation 2")
        wait_until(lambda: bool(farm.store.inflight(campaign)), what="work in flight")
        control.kill(farm.store, campaign, farm.dispatcher().revoke)

    killer = threading.Thread(target=kill)
    killer.start()
    outcome = scheduler.run()
    killer.join()
    assert outcome.status == "killed"
    # Revoked tasks that were redelivered are skipped (the campaign ended).
    time.sleep(1.0)
    assert_exact_counts(farm, campaign)
