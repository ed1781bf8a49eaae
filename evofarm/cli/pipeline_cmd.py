"""``evofarm pipeline ...``: commands about single pipeline files.

``validate`` is a stable contract for scripts: it prints one line per problem
(``FILE:LINE:COL: key: message``) and ``FILE: OK (N steps)`` per valid file,
and exits 0 only when every file is valid (2 otherwise, as for any user
input error). Keys accepted only for pipeline_ex compatibility give one
``FILE:LINE:COL: key: warning: ...`` line each on stderr (never a failure).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evofarm.campaign.check import looks_like_campaign
from evofarm.cli.output import EXIT_USER_INPUT, friendly_errors
from evofarm.pipeline.loader import check_pipeline_file

app = typer.Typer(
    help="Check and run pipeline files (pipeline_ex YAML or the short form).",
    no_args_is_help=True,
)


@app.command("validate")
@friendly_errors
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(help="Pipeline YAML files to check.", show_default=False),
    ],
) -> None:
    """Check pipeline files: schema, step types, references and limits."""
    failed = 0
    for path in files:
        if looks_like_campaign(path):
            failed += 1
            typer.echo(
                f"{path}: this is a campaign file, not a pipeline "
                f"(check it with `evofarm campaign validate {path}`)"
            )
            continue
        report = check_pipeline_file(path)
        for warning in report.warnings:  # one per compatibility-only key, on stderr
            typer.echo(str(warning), err=True)
        if report.ok and report.pipeline is not None:
            typer.echo(f"{path}: OK ({len(report.pipeline.steps)} steps)")
            continue
        failed += 1
        for problem in report.problems:
            typer.echo(str(problem))
    if failed:
        typer.echo(f"{failed} of {len(files)} file(s) invalid", err=True)
        raise typer.Exit(EXIT_USER_INPUT)


# `run` lives in its own module (owned by the executor area); registered here.
from evofarm.cli.pipeline_run import run as _run  # noqa: E402

app.command("run")(_run)
from evofarm.cli.export_cmd import export as _export  # noqa: E402

app.command("export")(_export)
