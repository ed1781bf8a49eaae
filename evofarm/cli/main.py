"""The ``evofarm`` command: one typer app; each area registers its commands here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="evofarm",
    help="Evolve LLM pipelines on a distributed task-queue farm.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # Imported here so `evofarm --help` stays fast and each area owns its module.
    from evofarm.cli import pipeline_cmd

    app.add_typer(pipeline_cmd.app, name="pipeline")


def main() -> None:
    """Console-script entry point."""
    _register()
    app()
