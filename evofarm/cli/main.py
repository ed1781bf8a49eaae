"""The ``evofarm`` command: one typer app; each area registers its commands here."""

from __future__ import annotations

from typing import Annotated

import typer

from evofarm.cli import (
    approve_cmd,
    campaign_cmd,
    campaign_validate,
    dashboard_cmd,
    estimate_cmd,
    evolve_cmd,
    farm_campaign,
    farm_cmd,
    genesis_cmd,
    judge_cmd,
    memory_cmd,
    migrate_cmd,
    pipeline_cmd,
    scheduler_cmd,
)

app = typer.Typer(
    name="evofarm",
    help="Evolve LLM pipelines on a distributed task-queue farm.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(pipeline_cmd.app, name="pipeline")
app.add_typer(campaign_validate.app, name="campaign")
farm_cmd.register(app)
farm_campaign.register(app)
campaign_cmd.register(app)
judge_cmd.register(app)
evolve_cmd.register(app)
approve_cmd.register(app)
memory_cmd.register(app)
migrate_cmd.register(app)
dashboard_cmd.register(app)
estimate_cmd.register(app)
scheduler_cmd.register(app)
genesis_cmd.register(app)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            print(f"evofarm {version('evofarm')}")
        except PackageNotFoundError:  # a source tree that was never installed
            print("evofarm (not installed)")
        raise typer.Exit(0)


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Evolve LLM pipelines on a distributed task-queue farm."""


def main() -> None:
    """Console-script entry point."""
    app()
