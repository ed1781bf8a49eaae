"""Running the scheduler service on the shared farm (what ``evofarm scheduler`` calls).

The service (:class:`~evofarm.campaign.scheduler.service.SchedulerService`) is
given the farm's store and a Celery dispatcher; its drivers ride out any store
outage (``outage_s=None``: a service never gives a campaign up; if another
service adopted it meanwhile, the lease makes this one step back). SIGTERM,
SIGINT and SIGHUP hand every campaign back and return.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import replace
from types import FrameType

from evofarm.campaign.scheduler.service import SchedulerService, ServiceOptions
from evofarm.errors import Location, UserInputError
from evofarm.farm.app import load_farm_settings
from evofarm.farm.runner import scheduler_options
from evofarm.farm.session import is_shared, shared_farm
from evofarm.settings import Settings

log = logging.getLogger(__name__)


def serve(
    settings: Settings,
    options: ServiceOptions | None = None,
    *,
    ready: threading.Event | None = None,
) -> None:
    """Run the scheduler service until a stop signal (main thread) or forever.

    Args:
        settings: must name a shared farm (``EVOFARM_BROKER_URL``).
        options: polling and capacity.
        ready: set once the service is polling (for tests and supervisors).

    Raises:
        UserInputError: no shared farm configured.
    """
    if not is_shared(settings):
        raise UserInputError(
            "the scheduler service runs on a shared farm: set EVOFARM_BROKER_URL "
            "(and EVOFARM_REDIS_URL for the store)",
            Location(key="EVOFARM_BROKER_URL"),
        )
    timings = replace(scheduler_options(load_farm_settings()), outage_s=None)
    with shared_farm(settings) as farm:
        service = SchedulerService(
            farm.store,
            farm.dispatcher(),
            scheduler_options=timings,
            options=options,
            reaper=farm.reaper(),
        )

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("%s: handing campaigns back", signal.Signals(signum).name)
            service.stop()

        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            if ready is not None:
                ready.set()
            log.info("scheduler service polling every %.1fs", service.options.poll_s)
            service.run()
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
