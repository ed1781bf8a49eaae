"""Whether a running campaign has a live scheduler, as readers see it.

The lease says who may drive a campaign; readers (``status``, ``list``, the
dashboard) must not touch it. So each lease holder also notes, in the
campaign's info, when it last renewed and its TTL; a ``running`` campaign whose
note is older than the TTL (plus slack for clocks of different machines) has
no live scheduler and is shown ``interrupted``, with the command that resumes
it. The stored status stays ``running``: adoption needs no transition.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from evofarm.store.base import PopulationStore

#: Info fields: wall-clock time of the last lease renewal, and the lease TTL.
INFO_SEEN = "scheduler_seen"
INFO_TTL = "scheduler_ttl_s"
#: What readers show for a running campaign with no live scheduler.
INTERRUPTED = "interrupted"
#: Allowance for clock skew between the scheduler's machine and the reader's.
CLOCK_SLACK_S = 5.0


def note_alive(store: PopulationStore, campaign: str, ttl_s: float) -> None:
    """Record that this campaign's scheduler renewed its lease now."""
    store.update_info(campaign, {INFO_SEEN: repr(time.time()), INFO_TTL: repr(ttl_s)})


def has_live_scheduler(
    store: PopulationStore, campaign: str, now: Callable[[], float] = time.time
) -> bool:
    """Whether a scheduler renewed this campaign's lease within its TTL (plus slack)."""
    seen, ttl = store.get_info(campaign, INFO_SEEN), store.get_info(campaign, INFO_TTL)
    try:
        return now() - float(seen or "nan") <= float(ttl or "nan") + CLOCK_SLACK_S
    except ValueError:
        return False


def shown_status(store: PopulationStore, campaign: str, status: str) -> tuple[str, str]:
    """The status to show for ``campaign`` and, if interrupted, how to resume it.

    Returns:
        ``(status, "")``, or ``("interrupted", "no live scheduler; resume with
        `evofarm resume ID`")`` for a running campaign nobody drives.
    """
    if status == "running" and not has_live_scheduler(store, campaign):
        return INTERRUPTED, f"no live scheduler; resume with `evofarm resume {campaign}`"
    return status, ""
