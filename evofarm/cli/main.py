"""The ``evofarm`` command: one typer app; each area registers its commands here."""

from __future__ import annotations

import typer

from evofarm.cli import (
    campaign_cmd,
    farm_campaign,
    farm_cmd,
    genesis_cmd,
    judge_cmd,
    pipeline_cmd,
)

app = typer.Typer(
    name="evofarm",
    help="Evolve LLM pipelines on a distributed task-queue farm.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(pipeline_cmd.app, name="pipeline")
farm_cmd.register(app)
farm_campaign.register(app)
campaign_cmd.register(app)
judge_cmd.register(app)
genesis_cmd.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
