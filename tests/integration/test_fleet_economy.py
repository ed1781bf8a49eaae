"""The fleet's LLM economy on a real farm: real Redis, real workers, a fake Anthropic.

Each campaign's candidates have one ``claude`` step per case; every call goes
from the sandboxed child to its worker, through the fleet's ledger and rate
limiter, to :class:`FakeAnthropicServer`, whose own bill is the truth.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from evofarm.campaign import control
from evofarm.campaign.reports.readback import snapshot, summary
from evofarm.campaign.scheduler.driver import SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.dashboard.views import campaign_detail
from evofarm.farm.embedded import EmbeddedFarm, group_members
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm, connect_farm
from evofarm.fleet.ledger import RedisLedger, totals_from_counters
from evofarm.store.redis import connect
from evofarm.testing.fake_anthropic import FakeAnthropicServer
from evofarm.testing.loopback import holders, socket_inodes
from tests.integration.conftest import started_farm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAST = SchedulerOptions(wait_s=0.2, lease_ttl_s=3.0, lease_wait_s=5.0, stall_s=120.0)
CASES = 4


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(latency_s=0.05) as fake:
        yield fake


@pytest.fixture(scope="module")
def economy_farm(
    tmp_path_factory: pytest.TempPathFactory, server: FakeAnthropicServer
) -> Iterator[EmbeddedFarm]:
    env = {
        "EVOFARM_EVALUATOR": "sandbox",
        "EVOFARM_CASE_CONCURRENCY": "4",
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": server.base_url,
        "EVOFARM_ANTHROPIC_MAX_RETRIES": "1",
        "EVOFARM_PROVIDER_BACKOFF_BASE_S": "0.05",
        "EVOFARM_TASK_SOFT_TIME_LIMIT_S": "90",
        "EVOFARM_TASK_TIME_LIMIT_S": "100",
        "EVOFARM_VISIBILITY_TIMEOUT_S": "110",
        "EVOFARM_SCHEDULER_LEASE_TTL_S": "3",
    }
    with started_farm(tmp_path_factory.mktemp("econ"), env) as farm:
        yield farm


@pytest.fixture
def farm(economy_farm: EmbeddedFarm, server: FakeAnthropicServer) -> Iterator[Farm]:
    _wait_quiet(server)
    server.reset()
    store, app = connect_farm(economy_farm.redis_url, economy_farm.redis_url)
    connection = Farm(store, app, economy_farm)
    try:
        yield connection
    finally:
        connection.close()


def _wait_quiet(server: FakeAnthropicServer, quiet_s: float = 1.5, deadline_s: float = 20) -> None:
    """Wait until no request arrived for ``quiet_s``: an earlier test's last calls
    (evaluations still running when its campaign ended) must not land on the next bill."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        last = max((r.received_at for r in server.requests), default=0.0)
        if not server.in_flight and time.time() - last >= quiet_s:
            return
        time.sleep(0.05)


def campaign(
    tmp_path: Path,
    *,
    model: str = "haiku",
    generations: int = 1,
    cache_sampled: bool = False,
    share_evaluations: bool = False,
    check: str = "item",
    **budgets: float,
) -> CampaignSpec:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "seed.yaml").write_text(
        "workflow:\n  name: echo\n  steps:\n    - name: answer\n      type: claude\n"
        f"      model: {model}\n"
        "      prompt: [{type: static, content: 'Repeat: {{inputs.text}}'}]\n"
    )
    cases = [
        {"id": f"c{i}", "inputs": {"text": f"item {i} " + "x" * i},
         "checks": [{"type": "contains", "value": f"{check} {i}"}]}
        for i in range(CASES)
    ]  # fmt: skip
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({"name": "econ", "cases": cases}))
    spec = {
        "name": "econ",
        "seeds": ["seed.yaml"],
        "suite": "suite.yaml",
        "evolution": {"population": 2, "offspring": 2, "generations": generations, "seed": 5},
        "providers": {"claude": {"provider": "anthropic"}},
        "models": [{"slot": "claude", "model": "haiku", "provider": "anthropic",
                    "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 5.0}],
        "budgets": budgets,
        "economy": {"cache_sampled": cache_sampled, "share_evaluations": share_evaluations},
    }  # fmt: skip
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(spec))
    return load_campaign(tmp_path / "campaign.yaml")


def test_tokens_and_cost_equal_the_bill(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    cid = control.submit(farm.store, campaign(tmp_path, generations=2))
    outcome = run_scheduler(farm, cid, options=FAST)
    assert outcome.status == "completed"
    snap = snapshot(farm.store, cid)
    bill = server.billed
    assert bill.requests >= CASES
    assert snap.tokens == bill.tokens
    assert snap.cost_usd == pytest.approx(bill.cost_usd(1.0, 5.0), abs=2e-6)
    totals = totals_from_counters(farm.store.counters(cid))
    assert totals.by_role["evaluation"].calls == bill.requests
    assert totals.total.tokens == bill.tokens
    # summary.json and the dashboard break it down by role from the same counters.
    done = summary(farm.store, cid)
    assert set(done.usage_by_role) == {"evaluation"}
    assert done.usage_by_role["evaluation"].calls == bill.requests
    assert done.usage_by_role["evaluation"].tokens == bill.tokens
    assert done.cache_hits == {}
    detail = campaign_detail(farm.store, cid)
    assert detail["usage_by_role"]["evaluation"]["tokens"] == bill.tokens


def test_the_budget_is_never_exceeded_and_is_named(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    # A call reserves at most ~ (bytes + overhead) + 1024 output tokens at $5/M:
    # about $0.0055, so $0.02 allows only a few calls.
    cid = control.submit(farm.store, campaign(tmp_path, generations=3, max_usd=0.02))
    outcome = run_scheduler(farm, cid, options=FAST)
    assert outcome.status == "stopped"
    assert "usd" in outcome.reason
    bill = server.billed
    assert bill.cost_usd(1.0, 5.0) <= 0.02  # never over (0 when the first worst cases fill it)
    assert snapshot(farm.store, cid).cost_usd == pytest.approx(bill.cost_usd(1.0, 5.0), abs=2e-6)


def test_a_model_without_a_price_is_refused_for_a_budgeted_campaign(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    spec = campaign(tmp_path, model="claude-unpriced-9", generations=1, max_usd=1.0)
    cid = control.submit(farm.store, spec)
    run_scheduler(farm, cid, options=FAST)
    assert "claude-unpriced-9" not in server.billed.by_model
    assert snapshot(farm.store, cid).tokens == 0


def test_a_second_campaign_is_answered_from_the_fleet_s_response_cache(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    # A claude step cannot set a temperature (the provider's default samples):
    # the campaigns opt in to caching sampled calls.
    first = control.submit(farm.store, campaign(tmp_path / "a", cache_sampled=True))
    assert run_scheduler(farm, first, options=FAST).status == "completed"
    billed = server.billed
    assert billed.requests >= CASES
    # Another suite (other checks, same inputs): the same calls, made by any worker.
    second = control.submit(farm.store, campaign(tmp_path / "b", cache_sampled=True, check="Fake"))
    assert run_scheduler(farm, second, options=FAST).status == "completed"
    assert server.billed == billed  # no call reached the provider again
    totals = totals_from_counters(farm.store.counters(second))
    assert totals.by_role["evaluation"].calls == 0
    assert totals.by_role["evaluation"].cached_calls >= CASES
    assert snapshot(farm.store, second).tokens == 0  # hits are free
    assert snapshot(farm.store, first).tokens == billed.tokens
    done = summary(farm.store, second)
    assert done.usage_by_role["evaluation"].tokens == 0
    assert done.cache_hits["responses"] == totals.by_role["evaluation"].cached_calls


def test_a_second_campaign_reuses_the_first_one_s_evaluations(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    first = control.submit(farm.store, campaign(tmp_path / "a", share_evaluations=True))
    assert run_scheduler(farm, first, options=FAST).status == "completed"
    billed = server.billed
    assert billed.requests >= CASES
    second = control.submit(farm.store, campaign(tmp_path / "b", share_evaluations=True))
    assert run_scheduler(farm, second, options=FAST).status == "completed"
    assert server.billed == billed  # not one call: every evaluation came from the cache
    counters = farm.store.counters(second)
    evaluated = farm.store.evaluation_keys(second)
    assert counters["evaluation_cache_hits"] == len(evaluated) >= 2
    assert summary(farm.store, second).cache_hits == {"responses": 0, "evaluations": len(evaluated)}
    assert snapshot(farm.store, second).tokens == 0
    assert {k.genome_id for k in evaluated} <= {
        k.genome_id for k in farm.store.evaluation_keys(first)
    }
    # Unshared (the default): a third campaign calls again.
    third = control.submit(farm.store, campaign(tmp_path / "c"))
    assert run_scheduler(farm, third, options=FAST).status == "completed"
    assert server.billed.requests > billed.requests
    assert "evaluation_cache_hits" not in farm.store.counters(third)


def _worker_with_a_fresh_call(farm: Farm, server: FakeAnthropicServer) -> int | None:
    """The process group of a worker with a call the server started < 0.2 s ago.

    A fresh call has most of the server's latency (0.5 s) to go, so killing its
    worker now leaves its reply undelivered, never delivered-but-unsettled.
    """
    assert farm.embedded is not None
    port = int(server.base_url.rsplit(":", 1)[1])
    for request in server.in_flight_requests:
        if request.path != "/v1/messages" or time.time() - request.received_at > 0.2:
            continue
        inodes = socket_inodes(request.peer_port, port)
        for proc in farm.embedded.processes:
            if proc.poll() is None and holders(inodes, group_members(proc.pid)):
                return proc.pid
    return None


def _run_killing_a_worker(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path, options: SchedulerOptions
) -> str:
    """Run a campaign, SIGKILLing the worker of a call in flight; the campaign's id."""
    server.latency_s = 0.5
    try:
        cid = control.submit(farm.store, campaign(tmp_path, generations=1))
        killed: list[int] = []

        def kill_when_busy() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                victim = _worker_with_a_fresh_call(farm, server)
                if victim is None:
                    time.sleep(0.01)
                    continue
                os.killpg(victim, signal.SIGKILL)
                killed.append(victim)

        killer = threading.Thread(target=kill_when_busy, daemon=True)
        killer.start()
        outcome = run_scheduler(farm, cid, options=options)
        killer.join(5)
    finally:
        server.latency_s = 0.05
    assert killed, "no call of a worker was ever in flight"
    assert outcome.status == "completed"
    assert farm.embedded is not None
    farm.embedded.add_worker()  # leave two workers for later tests
    deadline = time.monotonic() + 10
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)  # the dead worker's replies go out (and are billed)
    return cid


# The dead worker's evaluation is sent again once nothing progresses.
KILLED = replace(FAST, stall_s=8.0)


def test_a_worker_killed_mid_call_loses_no_call(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    cid = _run_killing_a_worker(farm, server, tmp_path, KILLED)
    assert farm.embedded is not None
    ledger = RedisLedger(connect(farm.embedded.redis_url), cid)
    before = ledger.totals()
    bill, lost = server.billed, server.undelivered
    # Every reply a worker received is counted exactly once, at what it billed.
    assert lost.requests >= 1
    assert before.total.calls == bill.requests - lost.requests
    assert before.total.tokens == bill.tokens - lost.tokens
    # The dead worker's calls stay reserved; reaping charges each once at its
    # worst case, which covers what the provider billed for it.
    reaped = ledger.reap(0)
    after = ledger.totals()
    assert reaped >= lost.requests
    assert before.reserved_tokens >= lost.tokens
    assert after.reserved_tokens == 0
    assert after.total.calls == before.total.calls + reaped
    assert after.total.tokens == before.total.tokens + before.reserved_tokens
    assert snapshot(farm.store, cid).tokens == after.total.tokens
    assert ledger.reap(0) == 0  # counted once


def test_the_scheduler_charges_what_a_killed_worker_left_reserved(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    options = replace(KILLED, reap_after_s=2.0, reap_every_s=0.5)
    cid = _run_killing_a_worker(farm, server, tmp_path, options)
    assert farm.embedded is not None
    ledger = RedisLedger(connect(farm.embedded.redis_url), cid)
    deadline = time.monotonic() + 5  # a live straggler's settle may still be on its way
    while ledger.totals().reserved_tokens and time.monotonic() < deadline:
        time.sleep(0.05)
    totals = ledger.totals()
    bill, lost = server.billed, server.undelivered
    assert lost.requests >= 1
    assert totals.reserved_tokens == 0  # nothing left booked: the scheduler charged it
    delivered = bill.requests - lost.requests
    assert totals.total.calls - delivered >= lost.requests  # each dead call charged
    assert totals.total.tokens >= bill.tokens
    assert snapshot(farm.store, cid).tokens == totals.total.tokens
