"""``evofarm kill [--all]``: the kill switch, on the shared farm or the embedded ones.

Killing an embedded campaign makes its daemon stop that campaign's farm, which
can close the store under this command between two calls (or a campaign can
end on its own while we look at it). The command then finishes on the farm's
store started again from its append-only file, so a farm that is gone is
reported plainly, never as an error.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from evofarm.campaign import control, lifecycle
from evofarm.cli.output import friendly_errors
from evofarm.errors import StoreError, UserInputError
from evofarm.farm.session import campaign_farm, embedded_campaigns, is_shared, shared_farm
from evofarm.settings import Settings, get_settings

#: Tries on an embedded farm that stops under the command (the first is the normal one).
ATTEMPTS = 3
RETRY_PAUSE_S = 0.5


def kill_embedded(settings: Settings, campaign: str, reason: str, *, only_active: bool) -> bool:
    """Kill one embedded campaign, riding out its farm stopping mid-command.

    Args:
        only_active: leave an ended campaign untouched (``kill --all``); else its
            leftover in-flight ids are dropped too.

    Returns:
        True if this call killed it; False if it had already ended.

    Raises:
        CampaignStateError: no such campaign.
        StoreError: its store failed on every attempt.
    """
    killed: bool | None = None
    for attempt in range(ATTEMPTS):
        try:
            with campaign_farm(settings, campaign) as farm:
                if killed is None:
                    if only_active and farm.store.get_status(campaign) not in lifecycle.ACTIVE:
                        return False
                    killed = lifecycle.mark_killed(farm.store, campaign, reason)
                control.drop_leftovers(farm.store, campaign, farm.dispatcher().revoke, strict=False)
            return killed
        except StoreError:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(RETRY_PAUSE_S)  # its farm is stopping: let it finish, then reopen
    raise AssertionError("unreachable")  # pragma: no cover


@friendly_errors
def kill(
    campaign: Annotated[str | None, typer.Argument(help="Campaign id.")] = None,
    *,
    kill_all: Annotated[bool, typer.Option("--all", help="Kill every active campaign.")] = False,
) -> None:
    """The kill switch: end a campaign (or all) now and revoke its in-flight tasks."""
    if kill_all == (campaign is not None):
        raise UserInputError("give a campaign id or --all (not both)")
    settings = get_settings()
    shared = is_shared(settings)
    if campaign is not None:
        if shared:
            with shared_farm(settings) as farm:
                killed = control.kill(farm.store, campaign, farm.dispatcher().revoke)
        else:
            killed = kill_embedded(settings, campaign, "killed", only_active=False)
        print(f"{campaign}: {'killed' if killed else 'had already ended'}")
        return
    reason = "killed (kill --all)"
    if shared:
        with shared_farm(settings) as farm:
            ids = control.kill_all(farm.store, farm.dispatcher().revoke, reason)
    else:
        ids = [
            cid
            for cid in embedded_campaigns(settings)
            if kill_embedded(settings, cid, reason, only_active=True)
        ]
    print(f"killed {len(ids)} campaign(s)" + (": " + ", ".join(ids) if ids else ""))
