"""``evofarm scheduler``: the long-running scheduler service of a shared farm.

It takes submitted campaigns from the store, drives them, and adopts any
campaign whose scheduler died (lease expired). Run one or more (compose,
systemd); ``submit`` then leaves no process on the submitting machine.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from evofarm.campaign.scheduler.service import ServiceOptions
from evofarm.cli.output import friendly_errors
from evofarm.farm.service import serve
from evofarm.settings import get_settings


@friendly_errors
def scheduler(
    *,
    poll: Annotated[
        float, typer.Option(min=0.05, help="Seconds between looks for campaigns to take.")
    ] = 1.0,
    max_campaigns: Annotated[
        int, typer.Option(min=1, help="Most campaigns this service drives at once.")
    ] = 16,
) -> None:
    """Run the farm's scheduler service until SIGTERM/Ctrl-C (campaigns are handed back)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(get_settings(), ServiceOptions(poll_s=poll, max_campaigns=max_campaigns))


def register(app: typer.Typer) -> None:
    """Add ``evofarm scheduler``."""
    app.command("scheduler")(scheduler)
