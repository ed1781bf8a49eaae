"""The Celery app factory: configuration that matters for correctness."""

from __future__ import annotations

import pytest

from evofarm.errors import UserInputError
from evofarm.farm import names
from evofarm.farm.app import celery_url, load_farm_settings, make_celery_app
from evofarm.farm.config import HEARTBEAT_VISIBILITY_S, VISIBILITY_MARGIN_S, FarmSettings
from evofarm.settings import Settings


def test_json_only_late_ack_prefetch_one() -> None:
    conf = make_celery_app(Settings(broker_url="redis://127.0.0.1:1/0"), FarmSettings()).conf
    assert conf.accept_content == ["json"]
    assert conf.result_accept_content == ["json"]
    assert conf.task_serializer == conf.result_serializer == "json"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_connection_retry_on_startup
    assert conf.result_expires == 86_400


def test_queues_routes_and_names() -> None:
    conf = make_celery_app(Settings(broker_url="redis://127.0.0.1:1/0"), FarmSettings()).conf
    assert sorted(q.name for q in conf.task_queues) == sorted(names.QUEUES)
    assert conf.task_routes == {
        "evofarm.breed": {"queue": "breed"},
        "evofarm.breed_batch": {"queue": "breed"},
        "evofarm.genesis": {"queue": "breed"},
        "evofarm.mutate": {"queue": "mutate"},
        "evofarm.evaluate": {"queue": "evaluate"},
    }
    assert all(t.startswith("evofarm.") for t in names.ROUTES)


def test_with_heartbeats_the_visibility_timeout_is_short_whatever_the_limit() -> None:
    farm = FarmSettings(task_soft_time_limit_s=3000, task_time_limit_s=3600)
    assert farm.task_heartbeat
    assert farm.visibility_timeout == HEARTBEAT_VISIBILITY_S < farm.task_time_limit_s
    # Long tasks keep their messages by beating, so a short explicit timeout is fine.
    assert FarmSettings(task_time_limit_s=3600, visibility_timeout_s=30).visibility_timeout == 30


def test_without_heartbeats_the_visibility_timeout_follows_the_hard_limit() -> None:
    conf = make_celery_app(
        Settings(broker_url="redis://127.0.0.1:1/0"),
        FarmSettings(task_soft_time_limit_s=50, task_time_limit_s=60, task_heartbeat=False),
    ).conf
    assert conf.task_soft_time_limit == 50 and conf.task_time_limit == 60
    vt = conf.broker_transport_options["visibility_timeout"]
    assert vt == 60 + VISIBILITY_MARGIN_S
    assert conf.broker_transport_options["unacked_restore_interval"] == 10
    short = FarmSettings(task_soft_time_limit_s=1, task_time_limit_s=2, visibility_timeout_s=5)
    assert short.visibility_timeout == 5 and short.restore_interval == 1


def test_inconsistent_limits_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="EVOFARM_TASK_SOFT_TIME_LIMIT_S"):
        FarmSettings(task_soft_time_limit_s=70, task_time_limit_s=60)
    with pytest.raises(UserInputError, match=r"EVOFARM_VISIBILITY_TIMEOUT_S.*redelivered"):
        FarmSettings(
            task_soft_time_limit_s=5,
            task_time_limit_s=60,
            visibility_timeout_s=30,
            task_heartbeat=False,
        )


def test_malformed_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOFARM_TASK_TIME_LIMIT_S", "-3")
    with pytest.raises(UserInputError, match="EVOFARM_TASK_TIME_LIMIT_S"):
        load_farm_settings()


def test_no_broker_is_a_clear_error() -> None:
    with pytest.raises(UserInputError, match="EVOFARM_BROKER_URL"):
        make_celery_app(Settings(broker_url=None), FarmSettings())


def test_unix_urls_become_kombu_socket_urls() -> None:
    assert celery_url("unix:///run/r.sock") == "redis+socket:///run/r.sock"
    assert celery_url("redis://h:1/0") == "redis://h:1/0"
    assert celery_url("rediss://h:1/0?ssl_ca_certs=/ca.pem") == (
        "rediss://h:1/0?ssl_ca_certs=/ca.pem&ssl_cert_reqs=CERT_REQUIRED"
    )
    assert celery_url("rediss://h:1/0?ssl_cert_reqs=CERT_NONE").endswith("=CERT_NONE")
    conf = make_celery_app(Settings(broker_url="unix:///run/r.sock"), FarmSettings()).conf
    assert conf.broker_url == "redis+socket:///run/r.sock"
    assert conf.result_backend == "redis+socket:///run/r.sock"
