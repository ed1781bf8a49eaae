"""Opening stores by URL scheme through the store registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evofarm.errors import StoreError
from evofarm.registry import UnknownExtension
from evofarm.store.memory import MemoryStore
from evofarm.store.redis import RedisStore
from evofarm.store.registry import (
    StoreBackend,
    open_shared_store,
    open_store,
    register_store,
    stores,
)


def test_builtin_schemes_are_registered() -> None:
    assert {"memory", "redis", "rediss", "unix"} <= set(stores.names())


def test_memory_url_opens_a_fresh_memory_store() -> None:
    one, two = open_store("memory://"), open_store("MEMORY://")
    assert isinstance(one, MemoryStore) and isinstance(two, MemoryStore) and one is not two


def test_redis_url_opens_a_redis_store(redis_url: str) -> None:
    store = open_shared_store(redis_url)
    try:
        assert isinstance(store, RedisStore)
        store.create_campaign("c1", {})
        assert store.get_status("c1") == "submitted"
    finally:
        store.close()


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(UnknownExtension) as info:
        open_store("redsi://localhost:6379/0")
    assert info.value.kind == "store" and "redis" in info.value.known
    assert "did you mean 'redis'" in str(info.value)


def test_url_without_scheme_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="names no scheme"):
        open_store("localhost")


def test_the_farm_refuses_a_one_process_store() -> None:
    with pytest.raises(StoreError, match="memory:// store lives in one process"):
        open_shared_store("memory://")


@pytest.fixture
def custom_scheme() -> Iterator[list[str]]:
    opened: list[str] = []

    def factory(url: str) -> MemoryStore:
        opened.append(url)
        return MemoryStore()

    register_store(("testmem",), StoreBackend(open=factory))
    try:
        yield opened
    finally:
        stores.unregister("testmem")


def test_a_backend_registered_from_outside_is_opened_by_its_scheme(
    custom_scheme: list[str],
) -> None:
    store = open_store("testmem://anything")
    assert isinstance(store, MemoryStore) and custom_scheme == ["testmem://anything"]
    with pytest.raises(StoreError, match="testmem:// store lives in one process"):
        open_shared_store("testmem://x")
