"""Mining an ended campaign: evaluations the scheduler saw end ok are not read back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import Campaign, CampaignCache
from evofarm.campaign.scheduler import memory_hook
from evofarm.campaign.spec import load_campaign
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation, invalid_evaluation
from evofarm.store.base import EvalKey, JSONDoc
from evofarm.store.collective import RedisCollective
from evofarm.store.redis import RedisStore
from evofarm.testing import synthetic_eval

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"


class CountingStore(RedisStore):
    """Counts the evaluations read back."""

    read: int = 0

    def get_evaluations(self, campaign: str, keys_: Sequence[EvalKey]) -> list[JSONDoc | None]:
        self.read += len(keys_)
        return super().get_evaluations(campaign, keys_)


def _record(store: RedisStore, cid: str, campaign: Campaign, evaluation: Evaluation) -> None:
    assert evaluation.genome_id is not None
    key = EvalKey(evaluation.genome_id, campaign.suite_id, campaign.fidelity)
    failed = evaluation.outcome != "ok"
    doc = evaluation.model_dump(mode="json")
    store.record_evaluation(cid, key, doc, tokens=0, cost_micro_usd=0, failed=failed)


def _ended_campaign(store: RedisStore, seed: int) -> tuple[str, str, str]:
    """A campaign with its seed evaluated ok (the winner), another ok genome, a failed one."""
    cid = control.submit(store, load_campaign(DEMO), seed=seed)
    campaign = CampaignCache().get(store, cid)
    seed_id = campaign.seed_genomes[0]
    genome = Genome.model_validate(store.get_genome(cid, seed_id))
    ok = synthetic_eval.evaluate(genome, campaign.spec, campaign.suite)
    _record(store, cid, campaign, ok)
    _record(store, cid, campaign, ok.model_copy(update={"genome_id": "e" * 64}))
    bad = invalid_evaluation(
        suite_id=campaign.suite_id, fidelity=1.0, reason="no steps", genome_id="f" * 64
    )
    _record(store, cid, campaign, bad)
    store.save_checkpoint(cid, 1, {"archive": [{"id": seed_id}]}, history=[])
    return cid, seed_id, "f" * 64


@pytest.mark.parametrize("known", [False, True])
def test_known_ok_evaluations_are_skipped_and_the_memory_is_the_same(
    redis_url: str, known: bool
) -> None:
    store = CountingStore.from_url(redis_url)
    cid, winner, failed = _ended_campaign(store, seed=3)
    campaign = CampaignCache().get(store, cid)
    # The winner is read back even when known (its score is mined with its patterns).
    known_ok = {winner, "e" * 64} if known else set()
    reason = "no steps"
    memory = RedisCollective(store.client)
    before = {f.key: f.count for f in memory.failures()}
    added = memory_hook.contribute_on_end(store, campaign, "completed", known_ok=known_ok)
    assert added > 0 or memory.patterns()
    after = {f.key: f.count for f in memory.failures() if f.reason == reason}
    assert len(after) == 1 and all(n == before.get(k, 0) + 1 for k, n in after.items())
    assert failed and store.read == (2 if known else 3)
