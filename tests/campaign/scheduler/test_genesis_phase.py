"""A ``request:`` campaign's genesis on the farm: left pending at submit, run once by a worker.

Threads and the memory store stand in for the farm (tests/integration runs it on
real worker processes); the proposer is the real anthropic SDK against the fake server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import CampaignCache, decode, genesis_record
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Outcome, Scheduler, SchedulerOptions
from evofarm.campaign.spec import load_campaign
from evofarm.campaign.worker import genesis, work
from evofarm.errors import SuiteError
from evofarm.settings import get_settings
from evofarm.store.memory import MemoryStore
from evofarm.testing.fake_anthropic import FakeAnthropicServer, FakeReply, RecordedRequest
from evofarm.testing.llm_campaign import SEED, OneInThree, fenced, write_campaign

#: Genesis asks twice per proposal (analysis, then the pipeline); 3 proposals.
GENESIS_CALLS = 6


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        monkeypatch.setenv("EVOFARM_ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("EVOFARM_ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setenv("EVOFARM_ANTHROPIC_MAX_RETRIES", "0")
        get_settings.cache_clear()
        try:
            yield fake
        finally:
            get_settings.cache_clear()


def _genesis_then(server: FakeAnthropicServer) -> OneInThree:
    """Genesis's replies are the seed; then llm_mutation's are 1-in-3 right."""
    replies = iter([fenced(SEED)] * GENESIS_CALLS)
    handler = OneInThree()

    def reply(request: RecordedRequest) -> FakeReply | str:
        return next(replies, None) or handler(request)

    server.set_handler(reply)
    return handler


def _run(store: MemoryStore, campaign: str) -> tuple[Outcome, int]:
    dispatcher = ThreadDispatcher(store, work.in_process_evaluator(), workers=2)
    try:
        options = SchedulerOptions(wait_s=0.2)
        return Scheduler(store, dispatcher, campaign, options=options).run(), dispatcher.sent
    finally:
        dispatcher.close()


def test_submit_leaves_genesis_pending_and_calls_no_provider(
    server: FakeAnthropicServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVOFARM_ANTHROPIC_API_KEY")
    get_settings.cache_clear()
    store = MemoryStore()
    cid = control.submit(store, load_campaign(write_campaign(tmp_path / "c", seeds=False)), seed=3)
    record = store.get_campaign(cid)
    assert record is not None and record.spec["genesis_pending"] is True
    assert decode(cid, record.spec).seed_genomes == ()
    assert store.genome_ids(cid) == set() and store.counters(cid).get("tokens", 0) == 0
    assert server.message_requests == []


def test_submit_still_refuses_a_bad_suite_of_a_request_campaign(tmp_path: Path) -> None:
    path = write_campaign(tmp_path / "c", seeds=False)
    (tmp_path / "c" / "suite.yaml").write_text("cases: [oops\n")
    with pytest.raises(SuiteError):
        control.submit(MemoryStore(), load_campaign(path), seed=3)


def test_the_scheduler_has_a_worker_run_genesis_once_and_evolves_its_seeds(
    server: FakeAnthropicServer, tmp_path: Path
) -> None:
    handler = _genesis_then(server)
    store = MemoryStore()
    cid = control.submit(store, load_campaign(write_campaign(tmp_path / "c", seeds=False)), seed=3)
    outcome, _ = _run(store, cid)
    assert outcome.status == "completed" and "target" in outcome.reason
    record = genesis_record(store, cid)
    assert record is not None and record.error is None and len(record.seed_genomes) == 1
    assert record.seed_genomes[0] in store.genome_ids(cid)
    assert len(server.message_requests) == GENESIS_CALLS + handler.replies
    # The worker's proposer charged the campaign's ledger: genesis is in the usage.
    assert handler.replies > 0
    # A redelivered genesis task finds the record: no call, the same seeds.
    again = genesis.genesis(store, CampaignCache(), cid)
    assert again["seed_genomes"] == record.seed_genomes
    assert len(server.message_requests) == GENESIS_CALLS + handler.replies


def test_a_resumed_scheduler_does_not_run_a_completed_genesis_again(
    server: FakeAnthropicServer, tmp_path: Path
) -> None:
    _genesis_then(server)
    store = MemoryStore()
    cid = control.submit(store, load_campaign(write_campaign(tmp_path / "c", seeds=False)), seed=3)
    # A worker completed genesis while no scheduler was there (the last one was killed).
    made = genesis.genesis(store, CampaignCache(), cid)
    assert len(made["seed_genomes"]) == 1 and len(server.message_requests) == GENESIS_CALLS
    server.set_handler(OneInThree())
    outcome, sent = _run(store, cid)
    assert outcome.status == "completed"
    # Every later request is llm_mutation's: none is genesis's (the meta pipeline's request).
    later = [r.prompt_text for r in server.message_requests[GENESIS_CALLS:]]
    assert later and not any("Turn a name into title case" in text for text in later)
    assert sent > 0


def test_a_genesis_with_no_valid_pipeline_fails_the_campaign_with_its_reason(
    server: FakeAnthropicServer, tmp_path: Path
) -> None:
    server.set_handler(lambda request: "no pipeline, sorry")
    store = MemoryStore()
    cid = control.submit(store, load_campaign(write_campaign(tmp_path / "c", seeds=False)), seed=3)
    outcome, sent = _run(store, cid)
    assert outcome.status == "failed"
    assert "genesis made no valid pipeline in 3 proposals (no_yaml x3)" in outcome.reason
    record = store.get_campaign(cid)
    assert record is not None and record.status == "failed" and record.reason == outcome.reason
    assert sent == 1 and len(server.message_requests) == GENESIS_CALLS
    assert store.inflight(cid) == set()


def test_a_kill_during_genesis_ends_the_campaign_at_once(
    server: FakeAnthropicServer, tmp_path: Path
) -> None:
    asked = threading.Event()

    def slow(request: RecordedRequest) -> FakeReply:
        asked.set()
        return FakeReply.ok(fenced(SEED), delay_s=0.5)

    server.set_handler(slow)
    store = MemoryStore()
    cid = control.submit(store, load_campaign(write_campaign(tmp_path / "c", seeds=False)), seed=3)
    dispatcher = ThreadDispatcher(store, work.in_process_evaluator(), workers=2)
    scheduler = Scheduler(store, dispatcher, cid, options=SchedulerOptions(wait_s=0.2))
    outcomes: list[Outcome] = []
    runner = threading.Thread(target=lambda: outcomes.append(scheduler.run()))
    runner.start()
    try:
        assert asked.wait(10)
        assert control.kill(store, cid, dispatcher.revoke)
        runner.join(10)
        assert not runner.is_alive()
    finally:
        dispatcher.close()
    assert outcomes[0].status == "killed"
    assert store.get_status(cid) == "killed" and store.inflight(cid) == set()
    assert store.load_checkpoint(cid) is None  # no generation 0 after the kill
