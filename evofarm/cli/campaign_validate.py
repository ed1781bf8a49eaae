"""``evofarm campaign validate FILE...``: every problem of each campaign file at once.

Same contract as ``pipeline validate``: one line per problem
(``FILE:LINE:COL: key: message``, for the campaign, its seed pipelines and its
suite), ``FILE: OK (N seeds)`` per valid file, exit 0 only when all are valid
(2 otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evofarm.campaign.check import campaign_problems
from evofarm.campaign.spec import load_campaign
from evofarm.cli.output import EXIT_USER_INPUT, friendly_errors

app = typer.Typer(help="Check campaign files.", no_args_is_help=True)


@app.command("validate")
@friendly_errors
def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Campaign YAML files to check.", show_default=False)
    ],
) -> None:
    """Check campaign files with their seeds and suites; print every problem."""
    failed = 0
    for path in files:
        problems = campaign_problems(path)
        if not problems:
            typer.echo(f"{path}: OK ({len(load_campaign(path).seed_paths)} seeds)")
            continue
        failed += 1
        for problem in problems:
            typer.echo(str(problem))
    if failed:
        typer.echo(f"{failed} of {len(files)} file(s) invalid", err=True)
        raise typer.Exit(EXIT_USER_INPUT)
