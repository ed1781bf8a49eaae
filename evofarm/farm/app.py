"""The one Celery app factory, shared by the scheduler and the workers.

Choices and why:

* JSON only, in and out: no pickle is accepted anywhere (a pickle message is
  code execution for whoever can write to the broker).
* Late acknowledgement, rejection on worker loss and a prefetch of one: a task
  is acknowledged only after it finished, so a worker that dies mid-task loses
  nothing (the message is redelivered); each pool process holds at most one
  unstarted message, so a long evaluation never sits behind another. This is
  safe because every task is idempotent (genomes are put-if-absent, evaluations
  are recorded once).
* The visibility timeout is derived from the hard time limit
  (:class:`~evofarm.farm.config.FarmSettings`), and the sweep that requeues a
  lost worker's messages runs often enough for that timeout.
* Results are not needed (completions are signalled through the store), so they
  are ignored by default and expire; tasks carry ids and small parameters only.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Queue
from pydantic import ValidationError

from evofarm.errors import Location, UserInputError
from evofarm.farm import names
from evofarm.farm.config import FarmSettings
from evofarm.settings import Settings


def load_farm_settings() -> FarmSettings:
    """Read :class:`FarmSettings` from the environment.

    Raises:
        UserInputError: a variable is malformed (names the variable).
    """
    try:
        return FarmSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "EVOFARM_" + str(first["loc"][0]).upper() if first["loc"] else None
        raise UserInputError(first["msg"], Location(key=key)) from None


def celery_url(url: str) -> str:
    """Translate a redis-py URL to the form kombu/Celery expect.

    ``unix:///path`` becomes ``redis+socket:///path``. A ``rediss://`` URL
    without ``ssl_cert_reqs`` (which redis-py does not need, but Celery refuses
    to run without) gets ``ssl_cert_reqs=CERT_REQUIRED``: the server's
    certificate is verified, as redis-py does by default. Other URLs are
    returned unchanged.
    """
    if url.startswith("unix://"):
        return "redis+socket://" + url[len("unix://") :]
    if url.startswith("rediss://") and "ssl_cert_reqs=" not in url:
        return url + ("&" if "?" in url else "?") + "ssl_cert_reqs=CERT_REQUIRED"
    return url


def celery_config(farm: FarmSettings, broker_url: str, backend_url: str) -> dict[str, Any]:
    """The Celery configuration of the farm (exposed for tests and ``evofarm worker``)."""
    transport_options = {
        "visibility_timeout": farm.visibility_timeout,
        "unacked_restore_interval": farm.restore_interval,
        # Scan on every sweep: the interval alone sets how quickly lost work returns.
        "unacked_restore_throttle": 1,
    }
    return {
        "broker_url": broker_url,
        "result_backend": backend_url,
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A task cancelled by a lost broker connection is redelivered anyway under
        # late acknowledgement; cancelling it avoids running it twice at once.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_soft_time_limit": farm.task_soft_time_limit_s,
        "task_time_limit": farm.task_time_limit_s,
        "broker_transport_options": transport_options,
        "result_backend_transport_options": {"visibility_timeout": farm.visibility_timeout},
        "result_expires": farm.result_expires_s,
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        "task_queues": [Queue(q, routing_key=q) for q in names.QUEUES],  # type: ignore[no-untyped-call]
        "task_default_queue": names.QUEUE_EVALUATE,
        "task_routes": {task: {"queue": queue} for task, queue in names.ROUTES.items()},
        "task_create_missing_queues": False,
        "worker_concurrency": farm.worker_concurrency,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
    }


def make_celery_app(
    settings: Settings,
    farm: FarmSettings | None = None,
    *,
    broker_url: str | None = None,
    backend_url: str | None = None,
    main: str = "evofarm",
) -> Celery:
    """Build the farm's Celery app.

    Args:
        settings: process settings; ``broker_url`` (and ``redis_url`` for
            results) are used unless overridden.
        farm: farm tuning; read from the environment if None.
        broker_url: overrides ``settings.broker_url`` (the embedded farm passes
            its private Redis here). redis-py ``unix://`` URLs are accepted.
        backend_url: result backend; defaults to the broker.
        main: the app's main name.

    Raises:
        UserInputError: no broker URL is configured or farm settings are invalid.
    """
    farm = farm or load_farm_settings()
    broker = broker_url or settings.broker_url
    if not broker:
        raise UserInputError(
            "no broker configured: set EVOFARM_BROKER_URL (or use the embedded farm)",
            Location(key="EVOFARM_BROKER_URL"),
        )
    backend = backend_url or settings.redis_url or broker
    app = Celery(main, set_as_current=False)
    app.conf.update(celery_config(farm, celery_url(broker), celery_url(backend)))
    return app
