"""``evofarm memory patterns|failures|gallery [--json]``: read the collective memory.

Reads the farm's Redis (``--redis`` or ``EVOFARM_REDIS_URL``). Human output is
one line per record; ``--json`` prints one JSON array.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from evofarm.cli.output import friendly_errors
from evofarm.errors import UserInputError
from evofarm.evolution.memory import Failure, Pattern
from evofarm.settings import get_settings
from evofarm.store.collective import CollectiveMemory, RedisCollective, dump


def records(collective: CollectiveMemory, view: str) -> list[Pattern] | list[Failure]:
    """The records of one view.

    Raises:
        UserInputError: ``view`` is not patterns, failures or gallery.
    """
    if view == "patterns":
        return sorted(collective.patterns(), key=lambda p: (-p.winners, -p.fitness, p.key))
    if view == "gallery":
        return collective.gallery()
    if view == "failures":
        return collective.failures()
    raise UserInputError(f"unknown memory view {view!r}: use patterns, failures or gallery")


def line(record: Pattern | Failure) -> str:
    """One human line for a record."""
    if isinstance(record, Failure):
        first = record.genome[:12]
        return f"{record.count:5d}  {record.outcome:<10} {record.reason}  (first: {first})"
    fragment = json.dumps(record.fragment, ensure_ascii=False)[:90]
    return (
        f"{record.kind:<9} winners {record.winners:<3} fitness {record.fitness:.4f}  "
        f"{fragment}  (first: {record.campaign}/{record.genome[:12]})"
    )


@friendly_errors
def memory(
    view: Annotated[str, typer.Argument(help="patterns, failures or gallery.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
    redis_url: Annotated[
        str | None, typer.Option("--redis", help="Redis URL (default: EVOFARM_REDIS_URL).")
    ] = None,
) -> None:
    """Show the collective memory: winner patterns, the failure museum or the gallery."""
    url = redis_url or get_settings().redis_url
    if not url:
        raise UserInputError("no Redis configured: pass --redis or set EVOFARM_REDIS_URL")
    found = records(RedisCollective.from_url(url), view)
    if as_json:
        typer.echo(json.dumps(dump(found)))
        return
    for record in found:
        typer.echo(line(record))


def register(app: typer.Typer) -> None:
    """Add ``memory`` to the ``evofarm`` app."""
    app.command("memory")(memory)
