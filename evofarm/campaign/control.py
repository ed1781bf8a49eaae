"""Submitting, stopping and killing farm campaigns (what the CLI commands call).

``submit`` stores a self-contained campaign (spec, suite, seed genomes, budget
limits) and returns its id at once (a ``request:`` campaign's genesis is left to
the farm: nothing here calls a provider); a scheduler then runs it
(:class:`~evofarm.campaign.scheduler.driver.Scheduler`). ``kill`` is the kill switch:
the campaign ends ``killed`` and every in-flight task is revoked at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Collection

from evofarm.campaign import lifecycle, memory
from evofarm.campaign.budgets import counter_limits
from evofarm.campaign.bundle import build_bundle
from evofarm.campaign.lifecycle import ACTIVE
from evofarm.campaign.spec import CampaignSpec
from evofarm.errors import StoreError
from evofarm.store.base import PopulationStore

Revoke = Callable[[Collection[str]], None]
"""Revokes task ids (queued ones are dropped, running ones killed)."""


def new_campaign_id(name: str) -> str:
    """A fresh id: the campaign's name, UTC time and a random suffix."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{name[:90]}-{stamp}-{secrets.token_hex(2)}"


def submit(
    store: PopulationStore,
    spec: CampaignSpec,
    *,
    seed: int | None = None,
    campaign_id: str | None = None,
) -> str:
    """Store a new campaign (status ``submitted``) and return its id.

    A ``request:`` campaign is stored with genesis pending and no seeds: the
    scheduler has a breed worker run it (:mod:`~evofarm.campaign.scheduler.genesis_phase`),
    so its calls pass the fleet's rate limit and ledger like every proposer call.

    A campaign with ``memory.use`` is offered the collective memory beside the
    store (the farm Redis's), read here once and frozen in its bundle
    (:func:`evofarm.campaign.memory.offered`): later changes of the memory do
    not change it, however often it is resumed.

    Raises:
        UserInputError: a seed pipeline or the suite file is invalid.
        StoreError: the id is taken, or the store or the memory failed.
    """
    seed = spec.evolution.seed if seed is None else seed
    campaign = campaign_id or new_campaign_id(spec.name)
    offer = memory.offered(memory.collective_of(store), spec)
    bundle, genomes = build_bundle(spec, seed, offer)
    for genome in genomes:
        store.put_genome(campaign, genome.model_dump(mode="json"))
    store.set_budgets(campaign, counter_limits(spec.budgets))
    store.create_campaign(
        campaign,
        bundle.model_dump(mode="json"),
        info={"name": spec.name, "seed": str(seed), "generations": str(spec.evolution.generations)},
    )
    return campaign


def wait_taken(
    store: PopulationStore, campaign: str, timeout_s: float, poll_s: float = 0.1
) -> bool:
    """Wait until a scheduler took ``campaign`` (it left ``submitted``); False on timeout.

    Raises:
        StoreError: the store failed.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if store.get_status(campaign) != lifecycle.Status.SUBMITTED:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def kill(store: PopulationStore, campaign: str, revoke: Revoke, reason: str = "killed") -> bool:
    """The kill switch for one campaign: end it ``killed`` and revoke its tasks now.

    Returns:
        True if this call killed it; False if it had already ended (its
        leftover tasks are revoked if the broker can still be reached).

    Raises:
        CampaignStateError: no such campaign.
    """
    killed = lifecycle.mark_killed(store, campaign, reason)
    drop_leftovers(store, campaign, revoke, strict=killed)
    return killed


def drop_leftovers(store: PopulationStore, campaign: str, revoke: Revoke, *, strict: bool) -> None:
    """Revoke an ended campaign's in-flight tasks and forget their ids (idempotent).

    Args:
        strict: re-raise a broker failure (the campaign was just killed, so its
            tasks may still run); else revoking is best effort.

    Raises:
        StoreError: the store failed, or the broker did and ``strict`` is set.
    """
    inflight = store.inflight(campaign)
    if inflight:
        try:
            revoke(inflight)
        except StoreError:
            # An ended campaign's leftovers are skipped by any worker that gets
            # them, and its embedded farm may already be gone: best effort only.
            if strict:
                raise
        # Revoked tasks never finish, so they would never clear their own ids.
        store.remove_inflight(campaign, sorted(inflight))


def kill_all(
    store: PopulationStore, revoke: Revoke, reason: str = "killed (kill --all)"
) -> list[str]:
    """Kill every active campaign; returns the ids killed."""
    killed = []
    for record in store.list_campaigns():
        if record.status in ACTIVE and kill(store, record.id, revoke, reason):
            killed.append(record.id)
    return killed
