"""Warming the dispatcher: connected and declared before the first send, never failing."""

from __future__ import annotations

import redis

from evofarm.farm import names
from evofarm.farm.app import make_celery_app
from evofarm.farm.dispatch import CeleryDispatcher
from evofarm.settings import Settings


def test_warm_declares_the_farm_queues_on_the_broker(
    redis_url: str, redis_client: redis.Redis
) -> None:
    app = make_celery_app(Settings(broker_url=redis_url, redis_url=redis_url))
    binding = f"_kombu.binding.{names.QUEUE_EVALUATE}"  # kombu's record of the declaration
    assert not redis_client.exists(binding)
    CeleryDispatcher(app).warm()
    assert redis_client.exists(binding)


def test_warm_with_no_broker_is_left_to_the_first_send() -> None:
    app = make_celery_app(Settings(broker_url="redis://127.0.0.1:1/0"))
    CeleryDispatcher(app).warm()  # logs; raises nothing
