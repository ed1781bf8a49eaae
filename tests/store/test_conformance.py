"""The shipped conformance suite (:mod:`evofarm.testing.store_conformance`), run
against both built-in backends, opened by URL through the store registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evofarm.store.base import PopulationStore, SharedStore
from evofarm.store.registry import open_shared_store, open_store
from evofarm.testing.store_conformance import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[PopulationStore]:
        yield open_store("memory://")


class TestRedisStore(StoreConformance):
    @pytest.fixture
    def store(self, redis_url: str) -> Iterator[SharedStore]:
        store = open_shared_store(redis_url)
        try:
            yield store
        finally:
            store.close()
