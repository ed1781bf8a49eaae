"""Task heartbeats keep a running task's delivery fresh in kombu's unacked index."""

from __future__ import annotations

import time
from types import SimpleNamespace

import redis

from evofarm.farm import heartbeat
from evofarm.farm.heartbeat import UNACKED_INDEX, Heartbeat, beating, redis_url_of_broker


def test_a_beat_refreshes_only_unacknowledged_deliveries(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.zadd(UNACKED_INDEX, {"tag-1": 100.0})
    with Heartbeat(client, "tag-1", interval_s=0.05) as beat:
        time.sleep(0.3)
    assert beat.beats >= 2
    score = client.zscore(UNACKED_INDEX, "tag-1")
    assert score is not None and time.time() - score < 2
    client.zrem(UNACKED_INDEX, "tag-1")  # acknowledged meanwhile
    Heartbeat(client, "tag-1", interval_s=1).beat()
    assert client.zscore(UNACKED_INDEX, "tag-1") is None  # never brought back


def test_beating_uses_the_request_s_delivery_tag_and_a_quarter_of_the_timeout(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.zadd("custom_index", {"tag-2": 100.0})
    request = SimpleNamespace(properties={"delivery_tag": "tag-2"}, is_eager=False)
    options = {"visibility_timeout": 2, "unacked_index_key": "custom_index"}
    with beating(request, redis_url, options):
        time.sleep(1.0)  # one beat after 0.5 s
    score = client.zscore("custom_index", "tag-2")
    assert score is not None and score > 100.0


def test_non_redis_brokers_and_untagged_requests_need_no_heartbeat() -> None:
    assert redis_url_of_broker("amqp://guest@localhost//") is None
    assert redis_url_of_broker("redis+socket:///tmp/r.sock") == "unix:///tmp/r.sock"
    request = SimpleNamespace(properties={}, is_eager=False)
    with beating(request, "redis://127.0.0.1:1/0", {"visibility_timeout": 60}):
        pass  # no tag: nothing started, nothing connected
    assert "redis://127.0.0.1:1/0" not in heartbeat._clients
