"""The memory offer of a farm campaign: read once at submission, frozen in its bundle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evofarm.campaign import control, memory
from evofarm.campaign.bundle import CampaignCache, decode
from evofarm.campaign.spec import CampaignSpec, MemoryUse, load_campaign
from evofarm.campaign.worker.work import load_genomes
from evofarm.errors import StoreError
from evofarm.evolution.examples import examples_of
from evofarm.evolution.material import material_of
from evofarm.evolution.memory import mine_patterns, offered_fragments
from evofarm.store.collective import InMemoryCollective, RedisCollective
from evofarm.store.memory import MemoryStore
from evofarm.store.redis import RedisStore
from evofarm.store.registry import open_shared_store

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"

WINNER = {"name": "w", "steps": [{"name": "a", "type": "transform", "input": "{{inputs.x}}",
                                  "operations": [{"op": "lower"}, {"op": "strip"}]}]}  # fmt: skip
LATER = {"name": "l", "steps": [{"name": "a", "type": "transform", "input": "{{inputs.x}}",
                                 "operations": [{"op": "upper"}, {"op": "title"}]}]}  # fmt: skip


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    opened = open_shared_store(redis_url)
    assert isinstance(opened, RedisStore)
    try:
        yield opened
    finally:
        opened.close()


def _spec(use: bool, offer: int = 16) -> CampaignSpec:
    return load_campaign(DEMO).model_copy(update={"memory": MemoryUse(use=use, offer=offer)})


def test_submit_freezes_the_offer_and_later_memory_changes_do_not_reach_it(
    store: RedisStore,
) -> None:
    shared = RedisCollective(store.client)
    shared.add_patterns(mine_patterns(WINNER, campaign="a", genome="g1", fitness=0.8))
    spec = _spec(use=True, offer=2)
    expected = offered_fragments(shared.patterns(), 2)
    assert len(expected) == 2
    campaign = control.submit(store, spec, seed=3)
    shared.add_patterns(mine_patterns(LATER, campaign="b", genome="g2", fitness=0.9))
    shared.add_patterns(mine_patterns(LATER, campaign="c", genome="g3", fitness=0.9))
    assert offered_fragments(shared.patterns(), 2) != expected  # the memory moved on
    decoded = CampaignCache().get(store, campaign)
    assert decoded.memory_offer == expected
    # The material every worker builds is the in-process loop's for the memory as it was.
    twin = InMemoryCollective()
    twin.add_patterns(mine_patterns(WINNER, campaign="a", genome="g1", fitness=0.8))
    examples = examples_of(decoded.suite)
    seeds = load_genomes(store, campaign, list(decoded.seed_genomes))
    ordered = [seeds[i] for i in decoded.seed_genomes]
    in_process = memory.offer(twin, spec, material_of(examples, [g.pipeline for g in ordered]))
    assert decoded.material(examples, ordered) == in_process
    assert in_process.patterns == expected


def test_without_use_or_without_a_shared_memory_nothing_is_offered(store: RedisStore) -> None:
    RedisCollective(store.client).add_patterns(
        mine_patterns(WINNER, campaign="a", genome="g1", fitness=0.8)
    )
    plain = control.submit(store, _spec(use=False), seed=1)
    assert CampaignCache().get(store, plain).memory_offer == ()
    local = MemoryStore()
    alone = control.submit(local, _spec(use=True), seed=1)
    assert CampaignCache().get(local, alone).memory_offer == ()


def test_a_tampered_stored_offer_is_refused_when_decoded(store: RedisStore) -> None:
    RedisCollective(store.client).add_patterns(
        mine_patterns(WINNER, campaign="a", genome="g1", fitness=0.8)
    )
    campaign = control.submit(store, _spec(use=True), seed=1)
    record = store.get_campaign(campaign)
    assert record is not None
    doc = dict(record.spec)
    doc["memory_offer"] = [
        list(doc["memory_offer"][0]),
        [{"op": "regex_replace", "pattern": "(x+)+y", "replacement": ""}],
    ]
    with pytest.raises(StoreError, match=r"memory_offer\[1\] is invalid: .*nested quantifiers"):
        decode(campaign, doc)
