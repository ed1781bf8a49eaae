"""``evofarm pipeline export FILE --target pipeline_ex [-o OUT]``.

Writes the pipeline as its target runs it (see :mod:`evofarm.pipeline.export_ex`):
to OUT, or to stdout without ``-o``. Each translation made is one
``note: ...`` line on stderr. A pipeline the target cannot express exits 2 with
one line naming every offending step (as for any user input error), and nothing
is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evofarm.cli.output import friendly_errors
from evofarm.errors import Location, UserInputError
from evofarm.pipeline.export_ex import TARGETS, export_pipeline
from evofarm.pipeline.loader import dump_document, load_pipeline


@friendly_errors
def export(
    file: Annotated[Path, typer.Argument(help="The pipeline YAML file.", show_default=False)],
    *,
    target: Annotated[
        str, typer.Option("--target", help=f"What to write for: {', '.join(TARGETS)}.")
    ] = "pipeline_ex",
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Write a pipeline (e.g. a campaign's winner) as pipeline_ex runs it."""
    exported = export_pipeline(load_pipeline(file), target, source=str(file))
    text = dump_document(exported.data)
    for note in exported.notes:
        typer.echo(f"note: {note}", err=True)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"cannot write: {exc.strerror}", Location(file=str(out))) from None
    typer.echo(f"{file}: exported for {target} to {out}", err=True)
