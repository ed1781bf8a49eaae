"""The collective memory on a real farm: an ended campaign is mined once, and a later
campaign with ``memory.use`` is offered it, frozen at submission, as in-process."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace

import pytest

from evofarm import keys
from evofarm.campaign import control
from evofarm.campaign.bundle import Campaign, CampaignCache
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports import final
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.campaign.scheduler.breeding import Breeding
from evofarm.campaign.scheduler.driver import Outcome, Scheduler
from evofarm.campaign.scheduler.memory_hook import INFO_CONTRIBUTED, contribute_on_end
from evofarm.campaign.spec import CampaignSpec, MemoryUse
from evofarm.campaign.worker.work import load_genomes
from evofarm.evolution.genome import Genome
from evofarm.evolution.memory import mine_patterns
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from evofarm.store.collective import RedisCollective
from evofarm.store.redis import RedisStore
from evofarm.testing.synthetic_eval import loop_evaluator
from tests.integration.schedulers import FAST, wait_generation
from tests.integration.test_farm_campaigns import Demo, assert_exact_counts

pytestmark = pytest.mark.integration

OTHER = {"name": "o", "steps": [{"name": "a", "type": "transform", "input": "{{inputs.x}}",
                                 "operations": [{"op": "upper"}, {"op": "title"}]}]}  # fmt: skip
_FROM_MEMORY = re.compile(r"inserted 'pattern (\d+) from memory'")


def _redis(farm: Farm) -> RedisStore:
    assert isinstance(farm.store, RedisStore)
    return farm.store


def _forget_memory(store: RedisStore) -> None:
    """An empty collective memory, so what a test offers is what it mined."""
    store.client.delete(
        keys.memory_patterns(), keys.memory_pattern_winners(), keys.memory_gallery(),
        keys.memory_failures(), keys.memory_failure_counts(),
    )  # fmt: skip


def _using(spec: CampaignSpec) -> CampaignSpec:
    # Not contributing keeps the in-process twin from changing the memory the farm reads.
    return spec.model_copy(update={"memory": MemoryUse(use=True, contribute=False)})


def _twin(spec: CampaignSpec, seed: int, collective: RedisCollective) -> tuple[str, str, str]:
    result = run_in_process(
        spec, seed=seed, evaluator=loop_evaluator(spec, spec.load_suite()), collective=collective
    )
    assert result.summary.best.genome is not None
    return result.summary.best.genome, result.summary.status, result.summary.reason


def _insertions_from_memory(farm: Farm, campaign: Campaign) -> list[tuple[Genome, int]]:
    """(child, offered fragment index) for every memory fragment feature insertion spliced in."""
    ids = sorted(farm.store.genome_ids(campaign.id))
    found = []
    for genome in load_genomes(farm.store, campaign.id, ids).values():
        for record in genome.mutations:
            match = _FROM_MEMORY.search(record.rationale or "")
            if match:
                found.append((genome, int(match.group(1)) - 1))
    return found


def _assert_inserted_as_offered(farm: Farm, campaign: Campaign) -> int:
    """Every memory insertion put the frozen offer's fragment in the child; returns how many."""
    insertions = _insertions_from_memory(farm, campaign)
    for child, index in insertions:
        fragment = [dict(op) for op in campaign.memory_offer[index] if isinstance(op, dict)]
        text = json.dumps(fragment, sort_keys=True)[1:-1]  # the ops, as a run inside a list
        steps = child.pipeline["steps"]
        assert any(text in json.dumps(s.get("operations", []), sort_keys=True) for s in steps)
    return len(insertions)


def test_an_ended_farm_campaign_is_mined_once(farm: Farm, demo: Demo) -> None:
    store = _redis(farm)
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


@pytest.mark.parametrize("breeding", ["batch", "scheduler"])
def test_a_later_campaign_is_offered_what_an_earlier_one_mined_and_gives_the_in_process_best(
    farm: Farm, demo: Demo, breeding: Breeding
) -> None:
    store = _redis(farm)
    memory = RedisCollective(store.client)
    _forget_memory(store)
    first = control.submit(store, demo(generations=2), seed=21)
    assert run_scheduler(farm, first, options=FAST).status == "completed"
    mined = [p for p in memory.patterns() if p.kind == "ops"]
    assert mined and {p.campaign for p in mined} == {first}

    spec, seed = _using(demo(generations=3)), 7
    best, status, reason = _twin(spec, seed, memory)
    second = control.submit(store, spec, seed=seed)
    campaign = CampaignCache().get(store, second)
    assert campaign.memory_offer
    assert {json.dumps(list(f)) for f in campaign.memory_offer} <= {
        json.dumps(p.fragment) for p in mined
    }
    options = replace(FAST, breeding=breeding)
    outcome = run_scheduler(farm, second, options=options)
    assert (outcome.status, outcome.reason) == (status, reason)
    top = best_genome_id(store, second)
    assert top is not None and top[0] == best
    assert _assert_inserted_as_offered(farm, campaign) > 0  # the offer reached the operators
    assert_exact_counts(farm, second)


def test_a_resumed_campaign_keeps_its_frozen_offer(farm: Farm, demo: Demo) -> None:
    store = _redis(farm)
    memory = RedisCollective(store.client)
    _forget_memory(store)
    first = control.submit(store, demo(generations=2), seed=22)
    assert run_scheduler(farm, first, options=FAST).status == "completed"

    spec, seed = _using(demo(generations=6)), 5
    best, status, _ = _twin(spec, seed, memory)
    campaign = control.submit(store, spec, seed=seed)
    offer = CampaignCache().get(store, campaign).memory_offer
    scheduler = Scheduler(store, farm.dispatcher(), campaign, options=FAST, reaper=farm.reaper())
    handed: list[Outcome] = []
    thread = threading.Thread(target=lambda: handed.append(scheduler.run()))
    thread.start()
    wait_generation(farm, campaign, 1)
    scheduler.step_back()
    thread.join(60)
    assert handed and handed[0].reason == "handed back"

    # The memory changes under the campaign: its resumed run must not see it.
    _forget_memory(store)
    memory.add_patterns(mine_patterns(OTHER, campaign="elsewhere", genome="g", fitness=1.0))
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert outcome.status == status
    resumed = CampaignCache().get(store, campaign)
    assert resumed.memory_offer == offer
    top = best_genome_id(store, campaign)
    assert top is not None and top[0] == best
    assert _assert_inserted_as_offered(farm, resumed) > 0
    assert_exact_counts(farm, campaign)
