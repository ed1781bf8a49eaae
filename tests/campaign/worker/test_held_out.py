"""Held-out cases on the farm: evaluate tasks per split; nothing expected reaches a candidate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evofarm.campaign import control, lifecycle
from evofarm.campaign.bundle import Campaign, CampaignCache
from evofarm.campaign.spec import load_campaign
from evofarm.campaign.worker import work
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.sandbox.parent import batch
from evofarm.store.base import EvalKey
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval

ROOT = Path(__file__).resolve().parents[3]
SEED = ROOT / "benchmarks" / "tasks" / "seed.yaml"
CASES = 10


def secret(i: int) -> str:
    return f"SECRET-EXPECTED-{i}"


@pytest.fixture
def split_campaign(tmp_path: Path) -> tuple[MemoryStore, str, CampaignCache]:
    suite = {
        "name": "markers",
        "split": {"validation": 0.3, "seed": 1},
        "cases": [
            {
                "id": f"c{i}",
                "inputs": {"text": f"in{i}"},
                "checks": [{"type": "equals", "value": secret(i), "required": True}],
            }
            for i in range(CASES)
        ],
    }
    (tmp_path / "suite.yaml").write_text(json.dumps(suite))
    (tmp_path / "campaign.yaml").write_text(
        json.dumps({"name": "held", "seeds": [str(SEED)], "suite": "suite.yaml"})
    )
    store = MemoryStore()
    cid = control.submit(store, load_campaign(tmp_path / "campaign.yaml"), seed=1)
    lifecycle.mark_running(store, cid)
    return store, cid, CampaignCache()


def test_the_decoded_campaign_trains_on_the_training_cases(
    split_campaign: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = split_campaign
    campaign = cache.get(store, cid)
    assert campaign.held_out is not None and campaign.validation_id == campaign.held_out.id
    assert len(campaign.suite.cases) == 7 and len(campaign.held_out.cases) == 3
    assert campaign.suite_id == campaign.suite.id != campaign.validation_id
    validation = campaign.for_split("validation")
    assert validation.suite_id == campaign.validation_id and validation.held_out is None


def test_evaluate_tasks_per_split_are_kept_apart(
    split_campaign: tuple[MemoryStore, str, CampaignCache],
) -> None:
    store, cid, cache = split_campaign
    campaign = cache.get(store, cid)
    seed = campaign.seed_genomes[0]
    ran: list[set[str]] = []

    def evaluator(c: Campaign, genome: Genome) -> Evaluation:
        ran.append({case.id for case in c.suite.cases})
        return synthetic_eval.evaluate(genome, c.spec, c.suite)

    train = work.EvalRequest(cid, seed, campaign.suite_id, campaign.fidelity, 0)
    assert campaign.validation_id is not None
    held = work.EvalRequest(cid, seed, campaign.validation_id, campaign.fidelity, 0)
    work.evaluate(store, cache, train, evaluator)
    work.evaluate(store, cache, held, evaluator)
    assert campaign.held_out is not None
    assert ran == [
        {c.id for c in campaign.suite.cases},
        {c.id for c in campaign.held_out.cases},
    ]
    assert store.evaluation_keys(cid) == {
        EvalKey(seed, campaign.suite_id, campaign.fidelity),
        EvalKey(seed, campaign.validation_id, campaign.fidelity),
    }


def test_no_expected_output_reaches_the_sandboxed_child(
    split_campaign: tuple[MemoryStore, str, CampaignCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, cid, cache = split_campaign
    campaign = cache.get(store, cid)
    seed = campaign.seed_genomes[0]
    sent: list[str] = []
    real = batch.run_sandboxed

    def recording(job: Any, **kwargs: Any) -> Any:
        sent.append(job.model_dump_json())  # exactly what the child is given
        return real(job, **kwargs)

    monkeypatch.setattr(batch, "run_sandboxed", recording)
    evaluator = work.sandbox_evaluator(1)
    assert campaign.validation_id is not None
    for suite_id in (campaign.suite_id, campaign.validation_id):
        request = work.EvalRequest(cid, seed, suite_id, campaign.fidelity, 0)
        evaluation = Evaluation.model_validate(work.evaluate(store, cache, request, evaluator))
        # The candidate ran (in the sandbox) and failed every case: it is the identity.
        assert evaluation.cases and evaluation.tests_passed == 0
    assert len(sent) == 2
    for text in sent:
        assert "SECRET-EXPECTED" not in text
        assert "equals" not in text and "checks" not in text
    sent_ids = [{case[0] for case in json.loads(text)["cases"]} for text in sent]
    assert campaign.held_out is not None
    assert sent_ids == [
        {c.id for c in campaign.suite.cases},
        {c.id for c in campaign.held_out.cases},
    ]
