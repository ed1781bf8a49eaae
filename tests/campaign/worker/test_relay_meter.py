"""relay_meter: the worker's totals for a sandbox, split evenly over its cases."""

from __future__ import annotations

import pytest

from evofarm.campaign.worker.relay_meter import relay_meter
from evofarm.fitness.suite_models import Case
from evofarm.sandbox.wire.outcome import Isolation, Outcome, SandboxResult, SandboxUsage

RESULT = SandboxResult(
    outcome=Outcome.OK,
    isolation=Isolation.from_missing([]),
    wall_ms=300.0,
    usage=SandboxUsage(llm_calls=3, input_tokens=10, output_tokens=7, cost_usd=0.3),
)


def _case(case_id: str) -> Case:
    return Case.model_validate({"id": case_id, "checks": [{"type": "equals", "value": 1}]})


def test_shares_add_up_to_the_relays_count() -> None:
    meter = relay_meter(RESULT, ["c", "a", "b"], concurrency=2)
    shares = {cid: meter(_case(cid)) for cid in "abc"}
    assert [s.input_tokens for s in shares.values()] == [4, 3, 3]
    assert [s.output_tokens for s in shares.values()] == [3, 2, 2]
    assert sum(s.cost_usd for s in shares.values()) == pytest.approx(0.3)
    # Two of the three cases ran at once: each took 2/3 of the sandbox's time.
    assert {s.latency_ms for s in shares.values()} == {200.0}


def test_a_batch_needs_cases_and_a_concurrency() -> None:
    with pytest.raises(ValueError):
        relay_meter(RESULT, [], concurrency=1)
    with pytest.raises(ValueError):
        relay_meter(RESULT, ["a"], concurrency=0)
