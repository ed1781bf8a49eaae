"""The worker tasks' failure handling: retry infrastructure errors, report final failures."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from evofarm.campaign import lifecycle
from evofarm.errors import StoreError
from evofarm.settings import get_settings
from evofarm.store.redis import RedisStore

C = "camp"


class Retry(Exception):
    """Stands in for celery.exceptions.Retry."""


class FakeTask:
    def __init__(self, retries: int) -> None:
        self.request = SimpleNamespace(id="task-1", retries=retries)
        self.countdowns: list[float] = []

    def retry(self, exc: BaseException, countdown: float) -> Retry:
        self.countdowns.append(countdown)
        return Retry(str(exc))


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[ModuleType]:
    monkeypatch.setenv("EVOFARM_BROKER_URL", redis_url)
    monkeypatch.setenv("EVOFARM_REDIS_URL", redis_url)
    get_settings.cache_clear()
    module = importlib.import_module("workers.tasks")
    module._store = None
    try:
        yield module
    finally:
        if module._store is not None:
            module._store.close()
        module._store = None
        get_settings.cache_clear()


def _store(redis_url: str) -> RedisStore:
    store = RedisStore.from_url(redis_url)
    store.add_inflight(C, ["task-1"])
    return store


def test_success_forgets_the_task(tasks: ModuleType, redis_url: str) -> None:
    store = _store(redis_url)
    assert tasks._run(FakeTask(0), C, "x", lambda: 42) == 42
    assert store.inflight(C) == set()


def test_infrastructure_errors_are_retried_with_backoff(tasks: ModuleType, redis_url: str) -> None:
    store = _store(redis_url)
    task = FakeTask(retries=2)

    def flaky() -> Any:
        raise StoreError("redis went away")

    with pytest.raises(Retry):
        tasks._run(task, C, "evaluate g", flaky)
    assert task.countdowns == [2.0]
    assert store.inflight(C) == {"task-1"}  # still in flight: a kill must revoke the retry
    assert store.wait_event(C, lifecycle.EVENTS, 0) is None


def test_exhausted_retries_and_bugs_fail_the_campaign(tasks: ModuleType, redis_url: str) -> None:
    store = _store(redis_url)

    def flaky() -> Any:
        raise StoreError("still down")

    with pytest.raises(StoreError):
        tasks._run(FakeTask(retries=tasks.MAX_RETRIES), C, "evaluate g", flaky)
    event = store.wait_event(C, lifecycle.EVENTS, 0)
    assert event is not None and event["type"] == "task_failed"
    assert "still down" in event["error"] and store.inflight(C) == set()

    store.add_inflight(C, ["task-1"])

    def bug() -> Any:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        tasks._run(FakeTask(retries=0), C, "breed 1/0", bug)
    event = store.wait_event(C, lifecycle.EVENTS, 0)
    assert event is not None and event["task"] == "breed 1/0" and "KeyError" in event["error"]


def test_warm_up_opens_the_store_and_builds_the_evaluator(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOFARM_EVALUATOR", "evofarm.testing.synthetic_eval:factory")
    monkeypatch.setattr(tasks, "_evaluator", None)
    # A threads pool runs tasks in the worker's own process: warmed when it is ready.
    thread_pool = SimpleNamespace(controller=SimpleNamespace(pool_cls=SimpleNamespace))
    tasks._warm_in_place(sender=thread_pool)
    assert tasks._store is not None and tasks._evaluator is not None


def test_warm_up_leaves_a_prefork_parent_cold_and_never_raises(
    tasks: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "_evaluator", None)
    prefork = type("TaskPool", (), {"__module__": "celery.concurrency.prefork"})
    tasks._warm_in_place(sender=SimpleNamespace(controller=SimpleNamespace(pool_cls=prefork)))
    assert tasks._store is None and tasks._evaluator is None
    # A broken evaluator setting is logged here and reported by the first task.
    monkeypatch.setenv("EVOFARM_EVALUATOR", "no_such_module:factory")
    tasks._warm_process()
    assert tasks._evaluator is None
