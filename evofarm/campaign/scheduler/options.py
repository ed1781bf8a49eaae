"""What a farm scheduler is told (its options) and what it tells back (its outcome)."""

from __future__ import annotations

from dataclasses import dataclass, field

from evofarm.campaign.scheduler.breeding import Breeding
from evofarm.campaign.scheduler.recovery import Backoff


@dataclass(frozen=True)
class SchedulerOptions:
    """Timing of the scheduler's waits.

    Attributes:
        wait_s: longest single block on the event list; after it the scheduler
            renews its lease, rechecks the store and honours cancellation.
        lease_ttl_s: the lease expires this long after the last renewal (a
            SIGKILLed scheduler's campaign can be resumed after it).
        stall_s: with no progress for this long, missing work is sent again
            (e.g. messages lost with a broker); None: never.
        lease_wait_s: how long ``run`` waits for another scheduler's lease.
        outage_s: the longest store/broker outage ridden out (then the run
            raises ``StoreUnreachable`` and the campaign is left to be adopted);
            None: ride out any outage.
        backoff: delays between reconnection attempts.
        breeding: where the children that need no LLM are made
            (:mod:`~evofarm.campaign.scheduler.breeding`): ``scheduler`` (here,
            no task), ``batch`` (``batch_size`` children per breed task),
            ``tasks`` (one breed task each, as before); ``auto``: batches in
            generational mode, the scheduler in steady state (a freed slot's
            child without a queue's round trip). LLM children are always one
            breed task each.
        batch_size: children per batch task.
        reap_after_s: a ledger reservation older than this belongs to a dead
            worker and is charged (:mod:`~evofarm.campaign.scheduler.reaping`).
        reap_every_s: how often the scheduler looks for such reservations.
        spread: about how many evaluate tasks the farm runs at once. Evaluations
            that would leave slots idle (the seed generation, the final phase,
            the last births of a steady campaign) are split so that about this
            many tasks share them (:mod:`~evofarm.campaign.worker.shards`).
        split_cases: the fewest cases one task of a split evaluation runs; 0:
            never split.
    """

    wait_s: float = 1.0
    lease_ttl_s: float = 30.0
    stall_s: float | None = None
    lease_wait_s: float = 0.0
    outage_s: float | None = 600.0
    backoff: Backoff = field(default_factory=Backoff)
    breeding: Breeding = "auto"
    batch_size: int = 8
    reap_after_s: float = 900.0
    reap_every_s: float = 10.0
    spread: int = 16
    split_cases: int = 2


@dataclass(frozen=True)
class Outcome:
    """How a scheduler run ended: the final status, its reason, the last generation."""

    status: str
    reason: str
    generation: int
