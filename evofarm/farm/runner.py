"""Running a campaign's scheduler on a farm, with progress, interruptible.

The scheduler runs on a thread; the calling (main) thread polls the store for
progress snapshots and receives Ctrl-C. On an interrupt the scheduler is
cancelled (the campaign ends ``stopped``/``interrupted`` with its last
checkpoint intact, ready for ``resume``) before the interrupt propagates, so
the embedded farm can then be stopped cleanly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from evofarm.campaign.reports.readback import Snapshot, snapshot
from evofarm.campaign.scheduler.driver import Outcome, Scheduler, SchedulerOptions
from evofarm.errors import FarmError
from evofarm.farm.config import FarmSettings
from evofarm.farm.session import Farm

ProgressFn = Callable[[Snapshot], None]

#: Seconds between progress snapshots.
PROGRESS_EVERY_S = 0.5
#: How long an interrupted scheduler gets to cancel before we stop waiting.
CANCEL_GRACE_S = 10.0


def scheduler_options(farm: FarmSettings, *, resume: bool = False) -> SchedulerOptions:
    """Scheduler timings from the farm settings; ``resume`` waits out a dead lease.

    Work silent for two visibility timeouts is sent again: by then the broker
    has had its chance to redeliver a lost worker's messages, so what is still
    missing was lost outright (a worker killed between taking a message off its
    queue and recording it as unacknowledged, which kombu's Redis transport
    cannot make atomic).
    """
    ttl = farm.scheduler_lease_ttl_s
    return SchedulerOptions(
        lease_ttl_s=ttl,
        lease_wait_s=ttl + 2 if resume else 0.0,
        stall_s=2.0 * farm.visibility_timeout,
    )


def run_scheduler(
    farm: Farm,
    campaign: str,
    *,
    progress: ProgressFn | None = None,
    options: SchedulerOptions | None = None,
) -> Outcome:
    """Run (or resume) ``campaign`` on ``farm`` until it ends.

    Raises:
        FarmError: whatever the scheduler raised (state, store errors).
        KeyboardInterrupt: interrupted; the campaign was stopped first.
    """
    scheduler = Scheduler(
        farm.store, farm.dispatcher(), campaign, options=options, reaper=farm.reaper()
    )
    outcome: list[Outcome] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(scheduler.run())
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"scheduler-{campaign}", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(PROGRESS_EVERY_S)
            if progress is not None and not failure:
                progress(snapshot(farm.store, campaign))
    except BaseException:
        scheduler.cancel()
        thread.join(CANCEL_GRACE_S)
        raise
    if failure:
        raise failure[0]
    if not outcome:  # pragma: no cover - the thread always records one or the other
        raise FarmError(f"scheduler of {campaign!r} ended without an outcome")
    if progress is not None:
        progress(snapshot(farm.store, campaign))
    return outcome[0]
