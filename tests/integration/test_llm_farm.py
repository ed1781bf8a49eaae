"""LLM campaigns on a real farm (2 workers): target reached, tokens billed, replay reproducible."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports.readback import best_genome_id, summary
from evofarm.campaign.scheduler.driver import SchedulerOptions
from evofarm.campaign.spec import load_campaign
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from evofarm.settings import get_settings
from evofarm.testing.fake_anthropic import FakeAnthropicServer, FakeReply, RecordedRequest
from evofarm.testing.llm_campaign import (
    FIXED,
    SEED,
    OneInThree,
    ProposerAndCandidates,
    fenced,
    write_campaign,
)
from tests.integration.conftest import connected, started_farm

pytestmark = pytest.mark.integration

FAST = SchedulerOptions(wait_s=0.2, lease_ttl_s=3.0, lease_wait_s=5.0, stall_s=20.0)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cassette") / "proposer.jsonl"


@pytest.fixture(scope="module")
def env(server: FakeAnthropicServer, cassette: Path) -> dict[str, str]:
    return {
        "EVOFARM_EVALUATOR": "in_process",
        "EVOFARM_ANTHROPIC_API_KEY": "sk-test",
        "EVOFARM_ANTHROPIC_BASE_URL": server.base_url,
        "EVOFARM_ANTHROPIC_MAX_RETRIES": "0",
        "EVOFARM_REPLAY_CASSETTE": str(cassette),
        "EVOFARM_REPLAY_MODE": "replay",
        # The test farm's limits: a cold child's first proposer call (the anthropic SDK
        # import) took 7 s here; workers warm up before forking (workers/warmup.py).
        "EVOFARM_TASK_SOFT_TIME_LIMIT_S": "4",
        "EVOFARM_TASK_TIME_LIMIT_S": "5",
        "EVOFARM_VISIBILITY_TIMEOUT_S": "60",
    }


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[Farm]:
    with started_farm(tmp_path_factory.mktemp("farm"), env) as embedded, connected(embedded) as c:
        yield c


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[None]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_one_in_three_proposer_reaches_the_target_on_two_workers(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    handler = OneInThree()
    server.set_handler(handler)
    spec = load_campaign(write_campaign(tmp_path / "c"))
    campaign = control.submit(farm.store, spec, seed=3)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert outcome.status == "completed" and "target" in outcome.reason
    done = summary(farm.store, campaign)
    assert done.best.fitness is not None and done.best.fitness >= 0.9
    # The scheduler never called the proposer; every billed token is in the summary.
    assert handler.replies > 0 and done.tokens == handler.billed_tokens
    assert done.usage_by_role["proposer"].tokens == handler.billed_tokens


def test_proposer_candidate_and_judge_calls_are_counted_by_the_workers_that_made_them(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    handler = ProposerAndCandidates()
    server.set_handler(handler)
    spec = load_campaign(write_campaign(tmp_path / "c", evaluation_calls=True, judge=True))
    campaign = control.submit(farm.store, spec, seed=3)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert outcome.status == "completed" and "target" in outcome.reason
    done = summary(farm.store, campaign)
    assert handler.greetings > 0 and handler.proposer.replies > 0 and handler.judgements > 0
    # The fleet ledger holds every call the breed and evaluate workers relayed.
    billed = handler.proposer.billed_tokens + handler.evaluation_tokens + handler.judge_tokens
    assert done.tokens == billed
    assert done.usage_by_role["judge"].tokens == handler.judge_tokens
    assert done.usage_by_role["proposer"].tokens == handler.proposer.billed_tokens
    assert done.usage_by_role["proposer"].calls == handler.proposer.replies
    assert done.usage_by_role["evaluation"].tokens == handler.evaluation_tokens


def test_a_steady_llm_campaign_sends_its_children_to_the_breed_queue(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    handler = OneInThree()
    server.set_handler(handler)
    path = write_campaign(tmp_path / "c")
    path.write_text(path.read_text().replace("  seed: 3\n", "  seed: 3\n  mode: steady\n"))
    spec = load_campaign(path)
    assert spec.evolution.mode == "steady"
    campaign = control.submit(farm.store, spec, seed=3)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert outcome.status == "completed" and "target" in outcome.reason
    done = summary(farm.store, campaign)
    assert done.best.fitness is not None and done.best.fitness >= 0.9
    assert handler.replies > 0 and done.tokens == handler.billed_tokens


def test_a_request_campaign_counts_its_genesis_calls(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Genesis asks twice per proposal (analysis, then the pipeline): 3 proposals,
    # each the seed; then llm_mutation gets the usual 1-in-3 replies.
    genesis_replies = iter([FakeReply.ok(fenced(SEED), input_tokens=300, output_tokens=90)] * 6)
    handler = OneInThree()
    server.set_handler(lambda request: next(genesis_replies, None) or handler(request))
    # The submitting process has no key and calls nothing: genesis is the farm's.
    monkeypatch.delenv("EVOFARM_ANTHROPIC_API_KEY", raising=False)
    get_settings.cache_clear()
    spec = load_campaign(write_campaign(tmp_path / "c", seeds=False))
    calls = len(server.message_requests)
    campaign = control.submit(farm.store, spec, seed=3)
    assert len(server.message_requests) == calls
    assert farm.store.counters(campaign).get("tokens", 0) == 0
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert outcome.status == "completed"
    done = summary(farm.store, campaign)
    # A breed worker ran genesis through the fleet ledger: every billed token is counted.
    genesis_tokens = 6 * (300 + 90)
    assert done.tokens == genesis_tokens + handler.billed_tokens
    assert done.usage_by_role["proposer"].calls == 6 + handler.replies
    assert done.cost_usd > 0


def test_a_request_campaign_whose_genesis_makes_no_pipeline_fails_with_why(
    farm: Farm, server: FakeAnthropicServer, tmp_path: Path
) -> None:
    server.set_handler(
        lambda request: FakeReply.ok("no pipeline, sorry", input_tokens=10, output_tokens=5)
    )
    spec = load_campaign(write_campaign(tmp_path / "c", seeds=False))
    campaign = control.submit(farm.store, spec, seed=3)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert outcome.status == "failed"
    assert "genesis made no valid pipeline in 3 proposals (no_yaml x3)" in outcome.reason
    record = farm.store.get_campaign(campaign)
    assert record is not None and (record.status, record.reason) == ("failed", outcome.reason)
    # Its 6 calls were the worker's, counted by the fleet ledger.
    assert summary(farm.store, campaign).usage_by_role["proposer"].tokens == 6 * 15


def _by_prompt(request: RecordedRequest) -> FakeReply:
    """Deterministic in the request: the fix for 1 prompt in 3, prose or broken YAML otherwise."""
    digest = int(hashlib.sha256(request.prompt_text.encode()).hexdigest(), 16)
    texts = ("No YAML here.", fenced("workflow: [broken\n"), fenced(FIXED))
    return FakeReply.ok(texts[digest % 3], input_tokens=500, output_tokens=100)


def test_a_replayed_llm_campaign_gives_the_same_best_in_process_and_on_the_farm(
    farm: Farm,
    server: FakeAnthropicServer,
    tmp_path: Path,
    local_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.set_handler(_by_prompt)
    path = write_campaign(tmp_path / "c", generations=4)
    path.write_text(path.read_text().replace("provider: anthropic", "provider: replay"))
    spec = load_campaign(path)
    monkeypatch.setenv("EVOFARM_REPLAY_MODE", "record")
    get_settings.cache_clear()
    recorded = run_in_process(spec, seed=5).summary
    monkeypatch.setenv("EVOFARM_REPLAY_MODE", "replay")
    get_settings.cache_clear()
    calls = len(server.message_requests)
    replayed = run_in_process(spec, seed=5).summary
    assert len(server.message_requests) == calls  # replay only: no call left the process
    assert (replayed.best, replayed.status) == (recorded.best, recorded.status)
    campaign = control.submit(farm.store, spec, seed=5)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == (replayed.status, replayed.reason)
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == replayed.best.genome
    assert len(server.message_requests) == calls
