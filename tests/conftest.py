"""Shared fixtures: a private Redis for the whole test session.

The suite never touches a system Redis (no 127.0.0.1:6379): one private
redis-server per test session (per xdist worker) listens on a unix socket in a
temporary directory, without persistence, and is stopped at the end.

Fixtures:
    redis_server: the session's :class:`~evofarm.farm.redis_server.RedisServer`.
    redis_server_url: its redis-py URL, NOT flushed between tests (for fixtures
        wider than one test, e.g. long-lived worker processes).
    redis_url: the same URL, with the database flushed before the test.
    redis_client: a redis-py client on the flushed database (decode_responses=True).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from evofarm.farm.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on a unix socket, for the whole session."""
    directory: Path = tmp_path_factory.mktemp("redis")
    server = RedisServer(directory, persist=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server_url(redis_server: RedisServer) -> str:
    """The session Redis URL (``unix://...``), never flushed by fixtures."""
    return redis_server.url


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session Redis URL, with every database flushed before the test."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client (str responses) on the freshly flushed session Redis."""
    client: redis.Redis = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()
