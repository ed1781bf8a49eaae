"""The collective memory on a real farm: an ended campaign is mined once; ``use`` is refused."""

from __future__ import annotations

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import CampaignCache
from evofarm.campaign.reports import final
from evofarm.campaign.scheduler.memory_hook import INFO_CONTRIBUTED, contribute_on_end
from evofarm.campaign.worker.work import load_genomes
from evofarm.errors import CampaignSpecError
from evofarm.evolution.memory import mine_patterns
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from evofarm.store.collective import RedisCollective
from evofarm.store.redis import RedisStore
from tests.integration.test_farm_campaigns import FAST, Demo

pytestmark = pytest.mark.integration


def test_an_ended_farm_campaign_is_mined_once(farm: Farm, demo: Demo) -> None:
    store = farm.store
    assert isinstance(store, RedisStore)
    memory = RedisCollective(store.client)
    before = {p.key: p.winners for p in memory.patterns()}
    campaign = control.submit(store, demo(generations=2), seed=21)
    assert run_scheduler(farm, campaign, options=FAST).status == "completed"
    assert store.get_info(campaign, INFO_CONTRIBUTED) == "1"
    decided = final.decode(store.get_info(campaign, final.INFO_FINAL))
    assert decided is not None
    winner = load_genomes(store, campaign, [decided.genome])[decided.genome].pipeline
    expected = {p.key for p in mine_patterns(winner, campaign=campaign, genome="-", fitness=0)}
    after = {p.key: p.winners for p in memory.patterns()}
    assert expected and expected <= set(after)
    assert all(after[k] == before.get(k, 0) + 1 for k in expected)
    # A second ending (a resumed scheduler) does not count the winner again.
    assert contribute_on_end(store, CampaignCache().get(store, campaign), "completed") == 0
    assert {p.key: p.winners for p in memory.patterns()} == after


def test_memory_use_is_refused_on_the_farm(farm: Farm, demo: Demo) -> None:
    spec = demo(generations=1)
    spec = spec.model_copy(update={"memory": spec.memory.model_copy(update={"use": True})})
    with pytest.raises(CampaignSpecError, match=r"memory\.use runs in-process only"):
        control.submit(farm.store, spec, seed=1)
