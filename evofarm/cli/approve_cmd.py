"""Human oversight: ``approve``, ``reject``, ``deployed`` and ``rollback``.

* ``evofarm approve ID [--note TEXT] [--by NAME]``: approve the pending winner
  of campaign ``ID`` (a farm campaign, or an in-process run as printed by
  ``evofarm run --in-process``) and deploy it as the next version of the
  campaign's name;
* ``evofarm reject ID --reason TEXT``: reject it (nothing is deployed);
* ``evofarm deployed [NAME]``: every deployed name with its active version, or
  one name's versions (who, when, fitness, note) and events;
* ``evofarm rollback NAME --to vN``: make an earlier version active again.

The registry lives in ``$EVOFARM_STATE_DIR/deployments``
(:mod:`evofarm.campaign.deployments`); decisions are kept with the campaign
(:mod:`evofarm.campaign.approval`). Exit status 0 on success, 2 for bad input,
1 when the campaign's state does not allow it (not pending, unknown id).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from evofarm.campaign.approval import Decided, Decision, decide_local, deploy, is_local_run
from evofarm.campaign.deployments import DeploymentRegistry, parse_version
from evofarm.cli.output import friendly_errors
from evofarm.errors import CampaignStateError
from evofarm.settings import get_settings

DEPLOYMENTS = "deployments"

CampaignId = Annotated[str, typer.Argument(help="Campaign or in-process run id.")]
By = Annotated[str | None, typer.Option("--by", help="Who decides (default: login name).")]


def registry() -> DeploymentRegistry:
    """The deployment registry of this state directory."""
    return DeploymentRegistry(Path(get_settings().state_dir) / DEPLOYMENTS)


def decide(campaign: str, decision: Decision) -> Decided:
    """Record ``decision`` on ``campaign`` wherever it lives; return its name, summary, winner.

    Raises:
        CampaignStateError: unknown id, not ended, or the winner is not pending.
    """
    settings = get_settings()
    if is_local_run(settings.state_dir, campaign):
        summary, best = decide_local(settings.state_dir, campaign, decision)
        return Decided(summary.campaign, summary, best)  # an in-process summary names the run
    # The farm stack is heavy; only farm campaigns need it.
    from evofarm.campaign.decide import decide as farm_decide  # noqa: PLC0415
    from evofarm.farm.session import on_campaign_farm  # noqa: PLC0415

    # Idempotent: a decision already recorded is refused before anything changes.
    return on_campaign_farm(
        settings, campaign, lambda farm: farm_decide(farm.store, campaign, decision)
    )


@friendly_errors
def approve(
    campaign: CampaignId,
    *,
    note: Annotated[str, typer.Option("--note", help="Why, for the record.")] = "",
    by: By = None,
) -> None:
    """Approve a campaign's pending winner and deploy it as a new version."""
    decision = Decision.now("approved", note, by)
    decided = decide(campaign, decision)
    version = deploy(registry(), campaign, decided, decision)
    typer.echo(f"approved {campaign}: deployed {decided.name} v{version.version}")


@friendly_errors
def reject(
    campaign: CampaignId,
    *,
    reason: Annotated[str, typer.Option("--reason", help="Why it is rejected.")],
    by: By = None,
) -> None:
    """Reject a campaign's pending winner (nothing is deployed)."""
    decide(campaign, Decision.now("rejected", reason, by))
    typer.echo(f"rejected {campaign}: {reason}")


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


@friendly_errors
def deployed(
    name: Annotated[str | None, typer.Argument(help="A deployed name.")] = None,
) -> None:
    """List deployed names, or one name's versions and history."""
    reg = registry()
    if name is None:
        names = reg.names()
        if not names:
            typer.echo("nothing deployed")
        for n in names:
            index = reg.index(n)
            typer.echo(f"{n}  active v{index.active}  ({len(index.versions)} versions)")
        return
    index = reg.index(name)
    if not index.versions:
        raise CampaignStateError(f"nothing deployed as {name!r}")
    for v in index.versions:
        mark = "*" if v.version == index.active else " "
        fit = "-" if v.fitness is None else f"{v.fitness:.4f}"
        note = f"  {v.note}" if v.note else ""
        typer.echo(
            f"{mark} v{v.version}  fitness {fit}  {v.campaign}  by {v.by} at {_when(v.at)}{note}"
        )
    for e in index.events:
        note = f": {e.note}" if e.note else ""
        typer.echo(f"  {_when(e.at)} {e.action} v{e.version} by {e.by}{note}")


@friendly_errors
def rollback(
    name: Annotated[str, typer.Argument(help="A deployed name.")],
    *,
    to: Annotated[str, typer.Option("--to", help="The version to make active, e.g. v1.")],
    note: Annotated[str, typer.Option("--note", help="Why, for the record.")] = "",
    by: By = None,
) -> None:
    """Make an earlier deployed version active again."""
    number = parse_version(to)
    reg = registry()
    reg.rollback(name, number, by=Decision.now("approved", by=by).by, note=note)
    typer.echo(f"{name}: v{number} is active")


def register(app: typer.Typer) -> None:
    """Add ``approve``, ``reject``, ``deployed`` and ``rollback`` to the app."""
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("deployed")(deployed)
    app.command("rollback")(rollback)
