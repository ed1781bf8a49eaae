"""The collective memory backends: patterns with winner counts, gallery, failure museum."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from typer.testing import CliRunner

from evofarm import keys
from evofarm.cli.main import app
from evofarm.evolution.memory import mine_patterns
from evofarm.store.collective import (
    CollectiveMemory,
    InMemoryCollective,
    RedisCollective,
    open_collective,
)

WINNER = {"name": "w", "steps": [{"name": "a", "type": "transform", "input": "{{inputs.x}}",
                                  "operations": [{"op": "lower"}, {"op": "strip"}]}]}  # fmt: skip
OTHER = {"name": "o", "steps": [{"name": "a", "type": "transform", "input": "{{inputs.x}}",
                                 "operations": [{"op": "lower"}]}]}  # fmt: skip


@pytest.fixture(params=["memory", "redis"])
def collective(request: pytest.FixtureRequest) -> Iterator[CollectiveMemory]:
    if request.param == "memory":
        yield InMemoryCollective()
    else:
        yield open_collective(request.getfixturevalue("redis_url"))


def test_patterns_count_winners_and_the_gallery_keeps_first_appearances(
    collective: CollectiveMemory,
) -> None:
    first = mine_patterns(WINNER, campaign="c1", genome="g1", fitness=0.8)
    assert collective.add_patterns(first) == len(first)
    second = mine_patterns(OTHER, campaign="c2", genome="g2", fitness=0.9)
    new = collective.add_patterns(second)
    assert new == len({p.key for p in second} - {p.key for p in first})
    counts = {p.key: p.winners for p in collective.patterns()}
    shared = {p.key for p in first} & {p.key for p in second}
    assert shared and all(counts[k] == 2 for k in shared)
    gallery = collective.gallery()
    assert [p.key for p in gallery[: len(first)]] == [p.key for p in first]
    assert all(p.genome == "g1" for p in gallery if p.key in shared)  # first appearance


def test_the_failure_museum_deduplicates_by_outcome_and_reason(
    collective: CollectiveMemory,
) -> None:
    assert collective.add_failure("timeout", "took 10s", campaign="c", genome="g1")
    assert not collective.add_failure("timeout", "took 12s", campaign="c", genome="g2")
    assert collective.add_failure("invalid", "bad ref", campaign="c", genome="g3")
    museum = collective.failures()
    assert [(f.outcome, f.count, f.genome) for f in museum] == [
        ("timeout", 2, "g1"),
        ("invalid", 1, "g3"),
    ]


def test_evofarm_memory_prints_each_view(redis_url: str) -> None:
    store = open_collective(redis_url)
    store.add_patterns(mine_patterns(WINNER, campaign="c1", genome="g1", fitness=0.8))
    store.add_failure("timeout", "took 10s", campaign="c1", genome="g1")
    runner = CliRunner()
    out = runner.invoke(app, ["memory", "patterns", "--json", "--redis", redis_url])
    assert out.exit_code == 0, out.output
    assert {p["kind"] for p in json.loads(out.output)} == {"ops", "structure"}
    out = runner.invoke(app, ["memory", "failures", "--redis", redis_url])
    assert out.exit_code == 0 and "timeout" in out.output
    out = runner.invoke(app, ["memory", "gallery", "--json", "--redis", redis_url])
    assert json.loads(out.output)[0]["genome"] == "g1"
    out = runner.invoke(app, ["memory", "museum", "--redis", redis_url])
    assert out.exit_code != 0 and "unknown memory view" in out.output


def test_redis_records_that_do_not_decode_are_left_out(redis_client: redis.Redis) -> None:
    memory = RedisCollective(redis_client)
    memory.add_patterns(mine_patterns(WINNER, campaign="c1", genome="g1", fitness=0.5))
    good = {p.key for p in memory.patterns()}
    redis_client.hset(keys.memory_patterns(), "junk", "{not json")
    forged = memory.patterns()[0].model_copy(update={"key": "elsewhere"}).model_dump_json()
    redis_client.hset(keys.memory_patterns(), "forged", forged)
    redis_client.hset(keys.memory_pattern_winners(), sorted(good)[0], "many")
    assert {p.key for p in memory.patterns()} == good
    assert all(p.winners == 1 for p in memory.patterns())
    memory.add_failure("timeout", "took 5 s", campaign="c1", genome="g1")
    redis_client.hset(keys.memory_failures(), "junk", "[]")
    assert [f.outcome for f in memory.failures()] == ["timeout"]
