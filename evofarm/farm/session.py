"""Reaching a farm: the shared one (``EVOFARM_BROKER_URL``) or an embedded one.

A :class:`Farm` bundles what a command needs: the population store, the Celery
app (to send and revoke tasks) and, for an embedded farm, the processes this
command owns. Embedded farms live in ``STATE_DIR/runs/CAMPAIGN_ID/farm``: one
per campaign, so campaigns run side by side, and the append-only Redis there
keeps the campaign for ``status``, ``best``, ``export`` and ``resume`` after the
run ended (the private Redis is started again just to read it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import redis
from celery import Celery

from evofarm.campaign.scheduler.reaping import Reaper
from evofarm.errors import CampaignStateError, ServerBusy, StoreUnreachable
from evofarm.farm.app import make_celery_app
from evofarm.farm.dispatch import CeleryDispatcher
from evofarm.farm.embedded import EmbeddedFarm, signals_raise_interrupt
from evofarm.farm.redis_server import (
    RedisServer,
    answers_ping,
    locate_socket,
    lock_holder,
    socket_url,
)
from evofarm.fleet.services import ledger_reaper
from evofarm.keys import check_campaign_id
from evofarm.settings import Settings
from evofarm.store.base import SharedStore
from evofarm.store.redis import RedisStore
from evofarm.store.registry import open_shared_store

T = TypeVar("T")

RUNS = "runs"
#: The lock-file role of a Redis started just to read a stopped farm.
READER = "reader"
#: How long a reader waits for a farm that is starting or stopping to settle.
SETTLE_WAIT_S = 30.0
#: How many times :func:`on_campaign_farm` runs a body whose farm went away.
ATTEMPTS = 3
#: In a farm directory while its farm waits to start: readers hand the Redis over.
WANTED = "redis.wanted"
#: A mark older than this was left by a farm that died starting; readers ignore it.
WANTED_STALE_S = 120.0


@dataclass
class Farm:
    """A connection to one farm. Close it (or use the context managers) when done."""

    store: SharedStore
    app: Celery
    embedded: EmbeddedFarm | None = None

    def dispatcher(self) -> CeleryDispatcher:
        """A dispatcher sending this farm's tasks."""
        return CeleryDispatcher(self.app)

    def reaper(self) -> Reaper | None:
        """What charges dead workers' ledger reservations (None: a store without a ledger)."""
        return ledger_reaper(self.store.client) if isinstance(self.store, RedisStore) else None

    def answers(self) -> bool:
        """Whether the store still answers (a running embedded farm stops with its campaign)."""
        if not isinstance(self.store, RedisStore):
            return True
        try:
            return bool(self.store.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Close the connections (not the processes: their owner stops them)."""
        self.store.close()
        self.app.close()


def is_shared(settings: Settings) -> bool:
    """Whether a shared farm is configured (``EVOFARM_BROKER_URL``)."""
    return bool(settings.broker_url)


def run_dir(settings: Settings, campaign: str) -> Path:
    """Where an embedded campaign's farm lives."""
    return Path(settings.state_dir).resolve() / RUNS / check_campaign_id(campaign)


def embedded_campaigns(settings: Settings) -> list[str]:
    """Ids of the embedded campaigns in the state directory, oldest first."""
    runs = Path(settings.state_dir) / RUNS
    if not runs.is_dir():
        return []
    found = [p for p in runs.iterdir() if (p / "farm").is_dir()]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime)]


def connect_farm(redis_url: str, broker_url: str) -> tuple[SharedStore, Celery]:
    """The store ``redis_url`` names (any shared backend) and the Celery app on ``broker_url``.

    Raises:
        StoreError: the URL has no scheme or names a one-process store.
        UnknownExtension: no store backend is registered for the URL's scheme.
    """
    store = open_shared_store(redis_url)
    app = make_celery_app(Settings(broker_url=broker_url, redis_url=redis_url))
    # Meanwhile the caller sets up: the scheduler's first send then finds it connected.
    threading.Thread(target=CeleryDispatcher(app).warm, name="evofarm-warm", daemon=True).start()
    return store, app


@contextlib.contextmanager
def shared_farm(settings: Settings) -> Iterator[Farm]:
    """Connect to the shared farm.

    Raises:
        UserInputError: no broker configured.
    """
    broker = settings.broker_url or ""
    store, app = connect_farm(settings.redis_url or broker, broker)
    farm = Farm(store, app)
    try:
        yield farm
    finally:
        farm.close()


@contextlib.contextmanager
def embedded_farm(
    settings: Settings, campaign: str, *, workers: int | None, concurrency: int = 4
) -> Iterator[Farm]:
    """Start an embedded farm for ``campaign`` and stop it, leaving nothing, on exit.

    SIGTERM/SIGHUP unwind like Ctrl-C inside the block (main thread only).

    Raises:
        CampaignStateError: that campaign's farm is already up.
    """
    directory = run_dir(settings, campaign)
    farm_dir = directory / "farm"
    # A reader's short-lived Redis is not a running farm: starting waits for it.
    if answers_ping(locate_socket(farm_dir), timeout_s=2.0) and lock_holder(farm_dir) != READER:
        raise CampaignStateError(
            f"campaign {campaign!r} is already running here (its farm is up): "
            "use `evofarm watch`, `stop` or `kill`"
        )
    wanted = farm_dir / WANTED
    farm_dir.mkdir(parents=True, exist_ok=True)
    wanted.touch()
    with (
        signals_raise_interrupt(),
        _unmarked_when_up(wanted),
        EmbeddedFarm(directory, workers=workers, concurrency=concurrency) as processes,
    ):
        wanted.unlink(missing_ok=True)
        store, app = connect_farm(processes.redis_url, processes.redis_url)
        farm = Farm(store, app, processes)
        try:
            yield farm
        finally:
            farm.close()


@contextlib.contextmanager
def campaign_farm(settings: Settings, campaign: str) -> Iterator[Farm]:
    """The farm holding ``campaign``: shared, a running embedded one, or a stopped one.

    A stopped embedded farm's Redis is started just for the block (no workers);
    a farm that is starting or stopping is waited for (up to ``SETTLE_WAIT_S``).
    A running farm can stop inside the block (its campaign ended): commands that
    may outlive it go through :func:`on_campaign_farm`.

    Raises:
        CampaignStateError: no embedded campaign with this id in the state dir.
        ServerBusy: the farm kept starting or stopping for ``SETTLE_WAIT_S``.
    """
    if is_shared(settings):
        with shared_farm(settings) as farm:
            yield farm
        return
    farm_dir = run_dir(settings, campaign) / "farm"
    if not farm_dir.is_dir():
        raise CampaignStateError(
            f"no campaign {campaign!r} in {Path(settings.state_dir) / RUNS} "
            "(set EVOFARM_BROKER_URL for a shared farm)"
        )
    sock, server = _running_or_started(farm_dir)
    url = socket_url(sock)
    try:
        store, app = connect_farm(url, url)
        farm = Farm(store, app)
        try:
            yield farm
        finally:
            farm.close()
    finally:
        if server is not None:
            server.stop()


@contextlib.contextmanager
def _unmarked_when_up(wanted: Path) -> Iterator[None]:
    """Remove the farm's start mark however its start ends (it is removed once up, too)."""
    try:
        yield
    finally:
        wanted.unlink(missing_ok=True)


def farm_wanted(farm_dir: Path) -> bool:
    """Whether the farm of ``farm_dir`` waits to start: a reader should let its Redis go."""
    try:
        age = time.time() - (farm_dir / WANTED).stat().st_mtime
    except OSError:
        return False
    return age < WANTED_STALE_S


def _running_or_started(farm_dir: Path) -> tuple[Path, RedisServer | None]:
    """The socket of the Redis serving ``farm_dir`` and, if this call started it, the server."""
    deadline = time.monotonic() + SETTLE_WAIT_S
    while True:
        sock = locate_socket(farm_dir)
        if answers_ping(sock, timeout_s=2.0):
            return sock, None
        if not farm_wanted(farm_dir):  # else its farm is about to serve it
            server = RedisServer(farm_dir, persist=True, role=READER)
            try:
                server.start()
                return server.socket_path, server
            except ServerBusy:
                pass  # its owner is starting or stopping it
        if time.monotonic() >= deadline:
            raise ServerBusy(f"the farm of {farm_dir} kept starting or stopping")
        time.sleep(0.05)


def on_campaign_farm(settings: Settings, campaign: str, body: Callable[[Farm], T]) -> T:
    """``body`` on :func:`campaign_farm`, run again if the Redis it reached went away.

    A running embedded farm stops when its campaign ends, and a command that
    reached it just before then loses its Redis mid-way; the data stays on disk,
    so ``body`` runs again on the stopped farm. ``body`` must be safe to repeat
    (reads, idempotent requests).

    Raises:
        StoreUnreachable: the store failed on every one of ``ATTEMPTS`` tries.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with campaign_farm(settings, campaign) as farm:
                return body(farm)
        except StoreUnreachable:
            if is_shared(settings) or attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
