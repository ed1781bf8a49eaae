"""Heartbeats of running tasks: fast redelivery after a lost worker, long tasks kept.

With kombu's Redis transport a delivered, unacknowledged message sits in a
sorted set (``unacked_index``) scored by its delivery time; a sweep puts it back
on its queue once that time is older than the visibility timeout. Without
heartbeats the timeout must exceed the longest task (it was 720 s), which is
also how long a task held by a SIGKILLed worker waited to be redelivered.

Here every running task refreshes its own score every quarter of the visibility
timeout (``ZADD XX``: an acknowledged message is never brought back). The timeout
can then be short (60 s by default) whatever the task time limit: a task whose
worker died stops beating and is redelivered within about one timeout, while a
long evaluation that still runs keeps its message.

The trade-off: a worker that cannot run its heartbeat thread for a whole
timeout (a host frozen or starved that long) has its task delivered a second
time while it still runs. Every task is idempotent, so that costs work, never
correctness. RabbitMQ acknowledges for real and needs no heartbeat (a no-op there).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis

log = logging.getLogger(__name__)

#: kombu's default name of the unacknowledged-delivery index.
UNACKED_INDEX = "unacked_index"

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_url_of_broker(broker_url: str) -> str | None:
    """The redis-py URL of a Redis broker URL (Celery form accepted); None for others."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url[len("redis+socket://") :]
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return broker_url
    return None


def _client(url: str) -> redis.Redis:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
            _clients[url] = client
        return client


class Heartbeat:
    """Refreshes one delivery's score in the unacknowledged index on a thread.

    Args:
        client: a client of the broker's Redis.
        delivery_tag: the message's delivery tag.
        interval_s: seconds between beats.
        index_key: the transport's unacked index key.

    Beats that fail (Redis briefly unreachable) are logged and retried at the
    next interval: a missed beat only risks an early, harmless redelivery.
    """

    def __init__(
        self,
        client: redis.Redis,
        delivery_tag: str,
        interval_s: float,
        index_key: str = UNACKED_INDEX,
    ) -> None:
        self.client = client
        self.delivery_tag = delivery_tag
        self.interval_s = interval_s
        self.index_key = index_key
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evofarm-heartbeat", daemon=True)

    def beat(self) -> None:
        """Refresh the delivery now (only if it is still unacknowledged)."""
        self.client.zadd(self.index_key, {self.delivery_tag: time.time()}, xx=True)
        self.beats += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except redis.RedisError as exc:
                log.warning("heartbeat of %s failed: %s", self.delivery_tag, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.interval_s + 1)


@contextlib.contextmanager
def beating(request: Any, broker_url: str, transport_options: dict[str, Any]) -> Iterator[None]:
    """Keep the running task's delivery fresh for the duration of the block.

    Args:
        request: the Celery task request (its ``properties`` carry the delivery tag).
        broker_url: the app's broker URL; non-Redis brokers need no heartbeat.
        transport_options: the app's broker transport options (visibility timeout,
            index key).
    """
    url = redis_url_of_broker(broker_url)
    properties = getattr(request, "properties", None) or {}
    tag = properties.get("delivery_tag")
    visibility = float(transport_options.get("visibility_timeout") or 0)
    if url is None or not tag or visibility <= 0 or getattr(request, "is_eager", False):
        yield
        return
    key = str(transport_options.get("unacked_index_key") or UNACKED_INDEX)
    with Heartbeat(_client(url), str(tag), max(0.5, visibility / 4), key):
        yield
