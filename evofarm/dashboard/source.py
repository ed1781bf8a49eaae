"""Where the dashboard reads campaigns from: the shared farm or the embedded runs.

The same state ``evofarm list``/``status`` read (:mod:`evofarm.farm.session`):
with ``EVOFARM_BROKER_URL`` set, the shared farm's store; otherwise each
embedded campaign's private Redis under ``STATE_DIR/runs`` (started just to be
read when its run has ended, as ``status`` does, and kept up while the
dashboard runs so a page does not start a Redis per request).

A source also gives what only the broker knows (workers online, queue depths)
and the kill switch's revoke call, so stop and kill go through
:mod:`evofarm.campaign.control` and :mod:`evofarm.campaign.lifecycle` exactly as
the CLI's do.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from evofarm.campaign.control import Revoke
from evofarm.errors import FarmError
from evofarm.farm.names import QUEUES
from evofarm.store.base import PopulationStore

#: How long a workers-online ping waits for replies.
PING_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Fleet:
    """What the broker says: workers answering a ping and messages per queue.

    ``None`` means the broker could not be asked (an ended embedded farm has
    no broker; a broker that is down).
    """

    workers_online: int | None
    queues: dict[str, int] = field(default_factory=dict)


class CampaignSource(Protocol):
    """What the dashboard reads campaigns through. Implementations are thread safe."""

    def campaign_ids(self) -> list[str]:
        """Every campaign id, oldest first."""
        ...

    def store(self, campaign: str) -> PopulationStore:
        """The store holding ``campaign``.

        Raises:
            CampaignStateError: no such campaign.
        """
        ...

    def revoke(self, campaign: str) -> Revoke:
        """The call that revokes ``campaign``'s tasks (the kill switch's)."""
        ...

    def fleet(self, campaign: str | None = None) -> Fleet:
        """Workers online and queue depths (of ``campaign``'s farm, if it has its own)."""
        ...

    def close(self) -> None:
        """Release connections and any Redis started just for reading."""
        ...


def celery_fleet(app: Any) -> Fleet:
    """Ask a Celery app's broker for workers online and queue depths (never raises)."""
    try:
        replies = app.control.ping(timeout=PING_TIMEOUT_S)
        workers: int | None = len(replies or [])
    except Exception:  # any broker failure means "unknown", shown as such
        workers = None
    queues: dict[str, int] = {}
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            for name in QUEUES:
                try:
                    queues[name] = int(channel.queue_declare(queue=name, passive=True)[1])
                except Exception:  # a queue nobody declared yet holds nothing
                    queues[name] = 0
    except Exception:
        queues = {}
    return Fleet(workers, queues)


class StoreSource:
    """One store holding every campaign (the shared farm, or a store in tests)."""

    def __init__(
        self,
        store: PopulationStore,
        *,
        revoke: Revoke | None = None,
        fleet: Callable[[], Fleet] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._revoke = revoke
        self._fleet = fleet
        self._on_close = on_close

    def campaign_ids(self) -> list[str]:
        records = self._store.list_campaigns()
        return [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id))]

    def store(self, campaign: str) -> PopulationStore:
        return self._store

    def revoke(self, campaign: str) -> Revoke:
        if self._revoke is None:
            return lambda _ids: None
        return self._revoke

    def fleet(self, campaign: str | None = None) -> Fleet:
        return self._fleet() if self._fleet is not None else Fleet(None, {})

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()


class EmbeddedSource:
    """The embedded campaigns of a state directory, one private Redis each.

    Each Redis it starts for reading is started (and stopped) by one thread the
    source owns: a redis-server dies with the *thread* that started it
    (PDEATHSIG), and the web server's request threads come and go.
    """

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self._farms: dict[str, tuple[Any, contextlib.ExitStack]] = {}
        self._lock = threading.Lock()
        self._starter = ThreadPoolExecutor(1, thread_name_prefix="evofarm-dashboard-redis")

    def _farm(self, campaign: str) -> Any:
        # Imported here: the farm stack is heavy and a StoreSource needs none of it.
        from evofarm.farm.session import campaign_farm, farm_wanted, run_dir  # noqa: PLC0415

        with self._lock:
            held = self._farms.get(campaign)
            farm_dir = run_dir(self._settings, campaign) / "farm"
            if held is not None and (farm_wanted(farm_dir) or not held[0].answers()):
                # A running campaign's own farm stopped when it ended, or a resumed one
                # waits for the Redis this source started: let it go, read the farm's.
                del self._farms[campaign]
                self._starter.submit(held[1].close).result()
                held = None
            if held is None:
                stack = contextlib.ExitStack()
                opening = campaign_farm(self._settings, campaign)
                farm = self._starter.submit(stack.enter_context, opening).result()
                held = self._farms[campaign] = (farm, stack)
            return held[0]

    def campaign_ids(self) -> list[str]:
        from evofarm.farm.session import embedded_campaigns  # noqa: PLC0415

        found = []
        for campaign in embedded_campaigns(self._settings):
            try:
                if self._farm(campaign).store.get_status(campaign) is not None:
                    found.append(campaign)
            except FarmError:
                continue  # a run directory whose campaign never got submitted
        return found

    def store(self, campaign: str) -> PopulationStore:
        store: PopulationStore = self._farm(campaign).store
        return store

    def revoke(self, campaign: str) -> Revoke:
        revoke: Revoke = self._farm(campaign).dispatcher().revoke
        return revoke

    def fleet(self, campaign: str | None = None) -> Fleet:
        if campaign is None:
            return Fleet(None, {})
        return celery_fleet(self._farm(campaign).app)

    def close(self) -> None:
        with self._lock:
            stacks = [stack for _, stack in self._farms.values()]
            self._farms.clear()
            try:
                for stack in stacks:
                    self._starter.submit(stack.close).result()
            finally:
                self._starter.shutdown()


def configured_source(settings: Any) -> CampaignSource:
    """The source ``evofarm list`` would read: the shared farm if configured, else embedded."""
    from evofarm.farm.session import is_shared, shared_farm  # noqa: PLC0415

    if not is_shared(settings):
        return EmbeddedSource(settings)
    stack = contextlib.ExitStack()
    farm = stack.enter_context(shared_farm(settings))
    return StoreSource(
        farm.store,
        revoke=farm.dispatcher().revoke,
        fleet=lambda: celery_fleet(farm.app),
        on_close=stack.close,
    )
