"""The farm's Celery tasks. Each is thin: it parses ids and calls into evofarm.

Arguments are ids and small parameters only (Flower stays readable and messages
small). Every task is idempotent, because late acknowledgement may deliver it
twice (:mod:`evofarm.campaign.worker.work`).

Failures: infrastructure errors (the store, a provider after its own retries,
the sandbox machinery) are retried with exponential backoff; when retries run
out, or on any other error, the scheduler is told through the campaign's event
list and the campaign fails with the reason. Candidate faults never get here:
they are scored.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from celery import Task, signals

from evofarm.campaign.bundle import CampaignCache
from evofarm.campaign.provider_stack import Services
from evofarm.campaign.worker import batch, case_pool, work
from evofarm.campaign.worker import genesis as genesis_work
from evofarm.errors import ProviderUnavailable, SandboxError, StoreError
from evofarm.farm import heartbeat, names
from evofarm.farm.app import load_farm_settings
from evofarm.fleet.services import install as install_fleet
from evofarm.settings import get_settings
from evofarm.store.base import SharedStore
from evofarm.store.registry import open_shared_store
from workers.app import app
from workers.warmup import warm_up

log = logging.getLogger(__name__)


@signals.worker_init.connect  # type: ignore[untyped-decorator]
def _warm_up(sender: Any = None, **_: Any) -> None:
    """Before the pool forks: every child then starts warm (see :mod:`workers.warmup`).

    Also notes how many tasks each process runs at once, which sizes the case pool.
    """
    global _task_slots  # noqa: PLW0603 - set once, before any task (children inherit it)
    _task_slots = case_pool.task_slots(
        getattr(sender, "pool_cls", None), getattr(sender, "concurrency", None)
    )
    warm_up()


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _warm_process(**_: Any) -> None:
    """In each process that runs tasks (prefork child, solo): open the store, load the evaluator."""
    warm_task_process()


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _warm_in_place(sender: Any = None, **_: Any) -> None:
    """A threads (or other in-process) pool runs tasks here: warm this process now."""
    controller = getattr(sender, "controller", None)
    pool = getattr(controller, "pool_cls", None)
    if "prefork" not in str(getattr(pool, "__module__", pool)):
        warm_task_process()


def warm_task_process() -> None:
    """Open the store and build the evaluator before the first task (best effort).

    Left to the first tasks, every pool thread would race to do both at once
    while the farm's first evaluations (the seed generation) wait on them.
    A failure here is logged; the first task then meets it and reports it.
    """
    try:
        store()
        evaluator()
    except Exception as exc:  # warming never fails a worker
        log.warning("worker warm-up: %s", exc)


RETRYABLE = (StoreError, ProviderUnavailable, SandboxError)
MAX_RETRIES = 5

_store: SharedStore | None = None
_services: Services | None = None
_cache = CampaignCache()
_evaluator: work.GenomeEvaluator | None = None
#: Tasks this process runs at once (a threads pool's size; 1 in a prefork child).
_task_slots = 1


def store() -> SharedStore:
    """This process's store client, opened by URL scheme (:mod:`evofarm.store.registry`).

    Raises:
        StoreError: no URL configured, or the backend cannot be shared by a farm.
        UnknownExtension: no store backend is registered for the URL's scheme.
    """
    global _store  # noqa: PLW0603 - one client per process, made on first use
    if _store is None:
        settings = get_settings()
        url = settings.redis_url or settings.broker_url
        if not url:
            raise StoreError("no store configured: set EVOFARM_REDIS_URL")
        _store = open_shared_store(url)
        global _services  # noqa: PLW0603 - installed with the store, once per process
        # The fleet's rate limits, budget ledger and caches for every provider set.
        _services = install_fleet(url)
    return _store


def evaluator() -> work.GenomeEvaluator:
    """This process's evaluator (``EVOFARM_EVALUATOR``, cases ``EVOFARM_CASE_CONCURRENCY``).

    With ``EVOFARM_CASE_POOL=worker`` its cases run on the process's shared case
    pool: ``EVOFARM_CASE_CONCURRENCY`` threads per task the process runs at once.
    """
    global _evaluator  # noqa: PLW0603 - built once per process, on first use
    if _evaluator is None:
        farm = load_farm_settings()
        pool = None
        if farm.case_pool == "worker" and farm.evaluator != work.SANDBOX:
            pool = case_pool.shared(_task_slots * farm.case_concurrency)
        _evaluator = work.resolve_evaluator(farm.evaluator, farm.case_concurrency, pool)
    return _evaluator


def _run(task: Task, campaign: str, what: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; retry infrastructure errors; report final failures to the scheduler."""
    task_id = str(task.request.id)
    try:
        with _heartbeat(task):
            result = fn()
    except RETRYABLE as exc:
        retries = int(task.request.retries or 0)
        if retries < MAX_RETRIES:
            log.warning("%s: %s; retry %d", what, exc, retries + 1)
            raise task.retry(exc=exc, countdown=min(30.0, 0.5 * 2**retries)) from exc
        _give_up(campaign, task_id, what, exc)
        raise
    except Exception as exc:
        _give_up(campaign, task_id, what, exc)
        raise
    store().remove_inflight(campaign, [task_id])
    return result


@functools.cache
def _heartbeat_on() -> bool:
    return load_farm_settings().task_heartbeat


def _heartbeat(task: Task) -> contextlib.AbstractContextManager[None]:
    """Keep the task's broker delivery fresh while it runs (fast redelivery if we die)."""
    if not _heartbeat_on():
        return contextlib.nullcontext()
    conf = app.conf  # the workers app (the one every task here is bound to)
    return heartbeat.beating(
        task.request, str(conf.broker_url or ""), dict(conf.broker_transport_options or {})
    )


def _give_up(campaign: str, task_id: str, what: str, exc: BaseException) -> None:
    log.error("%s failed for good: %s", what, exc)
    try:
        work.signal_failure(store(), campaign, what, f"{type(exc).__name__}: {exc}")
        store().remove_inflight(campaign, [task_id])
    except StoreError:
        log.exception("could not report the failure of %s", what)


def _breed(task: Task, task_doc: dict[str, Any]) -> dict[str, Any]:
    campaign = str(task_doc.get("campaign", ""))
    what = f"breed {task_doc.get('generation')}/{task_doc.get('slot')}"
    result: dict[str, Any] = _run(
        task, campaign, what, lambda: work.breed(store(), _cache, task_doc)
    )
    return result


@app.task(name=names.TASK_BREED, bind=True)  # type: ignore[untyped-decorator]
def breed(self: Task, task_doc: dict[str, Any]) -> dict[str, Any]:
    """Crossover (then mutation) for one slot of a generation."""
    return _breed(self, task_doc)


@app.task(name=names.TASK_MUTATE, bind=True)  # type: ignore[untyped-decorator]
def mutate(self: Task, task_doc: dict[str, Any]) -> dict[str, Any]:
    """Mutation only, for one slot of a generation."""
    return _breed(self, task_doc)


@app.task(name=names.TASK_BREED_BATCH, bind=True)  # type: ignore[untyped-decorator]
def breed_batch(self: Task, task_docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Many non-LLM children of one campaign (one task instead of one per child)."""
    first = task_docs[0] if task_docs else {}
    campaign = str(first.get("campaign", ""))
    what = f"breed batch {first.get('generation')}/{first.get('slot')}+{len(task_docs)}"
    made: int = _run(self, campaign, what, lambda: batch.breed_batch(store(), _cache, task_docs))
    return {"children": made}


@app.task(name=names.TASK_GENESIS, bind=True)  # type: ignore[untyped-decorator]
def genesis(self: Task, campaign: str) -> dict[str, Any]:
    """A ``request:`` campaign's genesis: its seed genomes, made once on this worker."""
    result: dict[str, Any] = _run(
        self, campaign, "genesis", lambda: genesis_work.genesis(store(), _cache, campaign)
    )
    return result


@app.task(name=names.TASK_EVALUATE, bind=True)  # type: ignore[untyped-decorator]
def evaluate(  # noqa: PLR0917 - Celery passes task arguments positionally
    self: Task,
    campaign: str,
    genome_id: str,
    suite_id: str,
    fidelity: str,
    generation: int,
    shard: int = 0,
    shards: int = 1,
) -> dict[str, Any]:
    """Evaluate one genome on the campaign's suite (its cases run concurrently).

    With ``shards`` > 1, only shard ``shard`` of the cases, the last shard
    recording the merged evaluation (:mod:`evofarm.campaign.worker.shards`).
    """
    request = work.EvalRequest(
        campaign, genome_id, suite_id, fidelity, int(generation), int(shard), int(shards)
    )
    part = f" {shard + 1}/{shards}" if int(shards) > 1 else ""
    doc: dict[str, Any] = _run(
        self,
        campaign,
        f"evaluate {genome_id[:12]}{part}",
        lambda: work.evaluate(
            store(),
            _cache,
            request,
            evaluator(),
            metered=load_farm_settings().evaluator in work.METERED,
            shared=_services.evaluations if _services is not None else None,
        ),
    )
    return {"genome": genome_id, "score": doc.get("score"), "outcome": doc.get("outcome")}


@app.task(name=names.TASK_PING, ignore_result=False)  # type: ignore[untyped-decorator]
def ping(payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Echo ``payload`` with who answered, when, and the threads of its case pool (None:
    evaluations use threads of their own): health checks and overhead benchmarks."""
    return {
        "payload": payload or {},
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "at": time.time(),
        "case_threads": case_pool.size(),
    }
