"""An LLM campaign in-process: a proposer right 1 time in 3 still reaches the target."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.spec import load_campaign
from evofarm.errors import CampaignSpecError
from evofarm.settings import get_settings
from evofarm.testing.fake_anthropic import FakeAnthropicServer
from evofarm.testing.llm_campaign import (
    SEED,
    OneInThree,
    ProposerAndCandidates,
    fenced,
    write_campaign,
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeAnthropicServer, OneInThree]]:
    handler = OneInThree()
    with FakeAnthropicServer(handler=handler) as server:
        monkeypatch.setenv("EVOFARM_ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("EVOFARM_ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("EVOFARM_ANTHROPIC_MAX_RETRIES", "0")
        get_settings.cache_clear()
        try:
            yield server, handler
        finally:
            get_settings.cache_clear()


def test_a_one_in_three_proposer_drives_the_campaign_to_the_target(
    fake: tuple[FakeAnthropicServer, OneInThree], tmp_path: Path
) -> None:
    server, handler = fake
    spec = load_campaign(write_campaign(tmp_path / "c"))
    out = tmp_path / "out"
    result = run_in_process(spec, out_dir=out)
    summary = result.summary
    assert summary.status == "completed" and "target" in summary.reason
    assert summary.best.fitness is not None and summary.best.fitness >= 0.9
    # Everything billed is counted: the seed has no LLM step, so all are proposer tokens.
    assert handler.replies == len(server.message_requests) > 0
    assert summary.tokens == handler.billed_tokens
    proposer = summary.usage_by_role["proposer"]
    assert proposer.tokens == handler.billed_tokens and proposer.calls == handler.replies
    assert summary.cost_usd == pytest.approx(proposer.cost_usd) and summary.cost_usd > 0
    rows = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    discarded = rows[-1]["operators"]["llm_mutation"].get("discarded", {})
    assert set(discarded) <= {"no_yaml", "invalid_yaml", "identical_to_parent"}
    assert sum(discarded.values()) >= 1
    saved = json.loads((out / "summary.json").read_text())
    assert saved["usage_by_role"]["proposer"]["tokens"] == handler.billed_tokens


def test_the_proposer_sees_the_failing_case_and_earlier_attempts(
    fake: tuple[FakeAnthropicServer, OneInThree], tmp_path: Path
) -> None:
    server, _ = fake
    # Never the fix: every proposal upper-cases, so generation 2 sees generation 1's tries.
    server.set_handler(lambda request: fenced(SEED.replace("[{op: strip}]", "[{op: upper}]")))
    spec = load_campaign(write_campaign(tmp_path / "c", generations=2))
    run_in_process(spec)
    first = server.message_requests[0].prompt_text
    assert "ALAN TURING" in first and "Alan Turing" in first and "failed check" in first
    assert "(none yet)" in first
    later = [r.prompt_text for r in server.message_requests[1:]]
    assert any("generation 1, llm_mutation" in text for text in later)


def test_llm_operators_without_a_proposer_are_a_located_error(tmp_path: Path) -> None:
    path = write_campaign(tmp_path / "c")
    path.write_text(
        path.read_text().replace("proposer: {provider: anthropic, model: claude-haiku-4-5}\n", "")
    )
    with pytest.raises(CampaignSpecError) as caught:
        load_campaign(path)
    assert "proposer" in caught.value.message


def test_a_request_campaign_starts_from_genesis_and_evolves(
    fake: tuple[FakeAnthropicServer, OneInThree], tmp_path: Path
) -> None:
    server, _ = fake
    # Genesis asks twice per proposal (analysis, then the pipeline); every reply is the seed
    # pipeline, so the seeds are valid and llm_mutation then has the usual 1-in-3 replies.
    replies = iter([fenced(SEED)] * 6)
    handler = OneInThree()
    server.set_handler(lambda request: next(replies, None) or handler(request))
    spec = load_campaign(write_campaign(tmp_path / "c", seeds=False))
    result = run_in_process(spec)
    assert result.summary.status == "completed"
    assert result.summary.best.fitness is not None and result.summary.best.fitness >= 0.9
    first = server.message_requests[0].prompt_text
    assert "Turn a name into title case" in first and "Alan Turing" in first
    # Genesis calls count too: every request the server answered was billed.
    billed = sum(1 for _ in server.message_requests)
    assert result.summary.usage_by_role["proposer"].calls == billed


def test_a_request_campaign_whose_genesis_fails_says_why(
    fake: tuple[FakeAnthropicServer, OneInThree], tmp_path: Path
) -> None:
    server, _ = fake
    server.set_handler(lambda request: "no pipeline, sorry")
    spec = load_campaign(write_campaign(tmp_path / "c", seeds=False))
    with pytest.raises(CampaignSpecError) as caught:
        run_in_process(spec)
    assert "genesis made no valid pipeline in 3 proposals (no_yaml x3)" in caught.value.message


def test_proposer_and_candidate_calls_are_all_in_the_ledger_by_role(
    fake: tuple[FakeAnthropicServer, OneInThree], tmp_path: Path
) -> None:
    server, _ = fake
    handler = ProposerAndCandidates()
    server.set_handler(handler)
    spec = load_campaign(write_campaign(tmp_path / "c", evaluation_calls=True))
    summary = run_in_process(spec, out_dir=tmp_path / "out").summary
    assert summary.status == "completed" and "target" in summary.reason
    billed = server.billed
    assert handler.greetings > 0 and handler.proposer.replies > 0
    # Every billed token is in the summary, split by who made the call.
    assert summary.tokens == billed.tokens
    roles = summary.usage_by_role
    assert roles["proposer"].tokens == handler.proposer.billed_tokens
    assert roles["proposer"].calls == handler.proposer.replies
    assert roles["evaluation"].tokens == handler.evaluation_tokens
    assert roles["evaluation"].calls == handler.greetings
    assert summary.cost_usd == pytest.approx(
        roles["proposer"].cost_usd + roles["evaluation"].cost_usd
    )


def test_a_proposer_call_that_would_cross_the_budget_is_refused_and_stops_the_campaign(
    fake: tuple[FakeAnthropicServer, OneInThree], tmp_path: Path
) -> None:
    server, handler = fake
    path = write_campaign(tmp_path / "c")
    # Room for two proposals (820 tokens billed each, ~5,000 worst case), not a third.
    path.write_text(path.read_text() + "budgets: {max_tokens: 8000}\n")
    summary = run_in_process(load_campaign(path)).summary
    assert summary.status == "stopped" and "max_tokens" in summary.reason
    assert 0 < handler.replies == len(server.message_requests)
    assert summary.tokens == handler.billed_tokens <= 8000


def test_llm_judge_calls_are_their_own_role(
    fake: tuple[FakeAnthropicServer, OneInThree], tmp_path: Path
) -> None:
    server, _ = fake
    handler = ProposerAndCandidates()
    server.set_handler(handler)
    spec = load_campaign(write_campaign(tmp_path / "c", judge=True))
    out = tmp_path / "out"
    summary = run_in_process(spec, out_dir=out).summary
    assert summary.status == "completed"
    # The fix the proposer returns greets too: all three roles bill calls.
    assert handler.judgements > 0 and handler.greetings > 0
    assert summary.tokens == server.billed.tokens
    roles = json.loads((out / "summary.json").read_text())["usage_by_role"]
    assert set(roles) == {"evaluation", "proposer", "judge"}
    assert roles["judge"]["tokens"] == handler.judge_tokens
    assert roles["judge"]["calls"] == handler.judgements
    assert roles["proposer"]["tokens"] == handler.proposer.billed_tokens
    assert roles["evaluation"]["tokens"] == handler.evaluation_tokens


def test_the_proposer_reads_each_step_output_of_a_failing_case(
    fake: tuple[FakeAnthropicServer, OneInThree], tmp_path: Path
) -> None:
    server, _ = fake
    handler = ProposerAndCandidates()
    server.set_handler(handler)
    spec = load_campaign(write_campaign(tmp_path / "c", generations=1, evaluation_calls=True))
    run_in_process(spec)
    bodies = [
        json.dumps(r.json)
        for r in server.message_requests
        if not r.prompt_text.startswith("Greet ")
    ]
    assert bodies
    # The seed greets (a step whose output no check reads), then only strips the name.
    first = bodies[0]
    assert '- output of step `greet`: \\"Hello!\\"' in first
    assert '- output of step `clean`: \\"ALAN TURING\\"' in first
    assert '- output of step `clean`: \\"ada lovelace\\"' in first
