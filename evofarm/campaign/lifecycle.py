"""Campaign lifecycle: submitted -> running -> completed | stopped | killed | failed.

Every transition is one atomic compare-and-set in the store
(:meth:`~evofarm.store.base.PopulationStore.transition`), so a kill racing a
completion has exactly one winner, whichever process each runs in. Every
ending carries a reason.

* ``stop`` is a request: the scheduler finishes the generation in progress,
  checkpoints it and ends ``stopped``.
* ``kill`` ends the campaign at once (``killed``); the caller revokes the
  in-flight tasks (:mod:`evofarm.campaign.control`).
* ``resume`` takes a campaign that is not completed back to ``running``.
"""

from __future__ import annotations

from enum import StrEnum

from evofarm.errors import CampaignStateError
from evofarm.store.base import CampaignRecord, PopulationStore


class Status(StrEnum):
    """A campaign's lifecycle state."""

    SUBMITTED = "submitted"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    KILLED = "killed"
    FAILED = "failed"


ACTIVE = frozenset({Status.SUBMITTED, Status.RUNNING})
ENDED = frozenset({Status.COMPLETED, Status.STOPPED, Status.KILLED, Status.FAILED})
#: States ``resume`` accepts: a crashed scheduler leaves ``running`` behind.
RESUMABLE = frozenset({Status.RUNNING, Status.STOPPED, Status.FAILED, Status.KILLED})

#: Info field set by ``stop`` and read by the scheduler between generations.
STOP_REQUESTED = "stop_requested"
#: The scheduler event channel (completions, and wake-ups for stop/kill).
EVENTS = "events"


def require(store: PopulationStore, campaign: str) -> CampaignRecord:
    """The campaign's record.

    Raises:
        CampaignStateError: there is no such campaign.
    """
    record = store.get_campaign(campaign)
    if record is None:
        raise CampaignStateError(f"no campaign {campaign!r}")
    return record


def mark_running(store: PopulationStore, campaign: str, reason: str = "running") -> None:
    """submitted (or a resumable state) -> running.

    Raises:
        CampaignStateError: the campaign completed, or does not exist.
    """
    record = require(store, campaign)
    allowed = {Status.SUBMITTED, *RESUMABLE}
    if not store.transition(campaign, allowed, Status.RUNNING, reason):
        raise CampaignStateError(f"campaign {campaign!r} is {record.status}: it cannot run again")
    if record.status in ENDED:
        # Resuming a stopped campaign: its old stop request is spent. A stop asked
        # for before the first start, or while a crashed scheduler ran, still holds.
        store.update_info(campaign, {STOP_REQUESTED: ""})


def end(store: PopulationStore, campaign: str, status: Status, reason: str) -> bool:
    """Active -> ``status`` (an ending) with ``reason``. False if it had already ended."""
    if status not in ENDED:
        raise ValueError(f"{status} is not an ending")
    return store.transition(campaign, ACTIVE, status, reason)


def request_stop(store: PopulationStore, campaign: str) -> None:
    """Ask the scheduler to finish the current generation, checkpoint and stop.

    Raises:
        CampaignStateError: the campaign does not exist or already ended.
    """
    record = require(store, campaign)
    if record.status in ENDED:
        raise CampaignStateError(f"campaign {campaign!r} already ended ({record.status})")
    store.update_info(campaign, {STOP_REQUESTED: "1"})
    store.push_event(campaign, EVENTS, {"type": "stop"})


def stop_requested(record: CampaignRecord) -> bool:
    """Whether ``stop`` was asked for since the campaign last started."""
    return record.info.get(STOP_REQUESTED) == "1"


def mark_killed(store: PopulationStore, campaign: str, reason: str = "killed by user") -> bool:
    """Active -> killed, and wake the scheduler. False if it had already ended.

    Raises:
        CampaignStateError: no such campaign.
    """
    require(store, campaign)
    killed = store.transition(campaign, ACTIVE, Status.KILLED, reason)
    store.push_event(campaign, EVENTS, {"type": "kill"})
    return killed
