"""``evofarm migrate-keys [--redis URL] [--dry-run]``: rename a Redis to the tagged key layout.

For a shared farm's Redis written before the keys carried Redis Cluster hash
tags (:mod:`evofarm.store.key_migration`). Stop the farm's schedulers and
workers first; rerunning it is harmless. Prints one JSON object with the counts.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from evofarm.cli.output import friendly_errors
from evofarm.errors import UserInputError
from evofarm.settings import get_settings
from evofarm.store.key_migration import migrate_keys
from evofarm.store.redis import connect


@friendly_errors
def migrate(
    redis_url: Annotated[
        str | None, typer.Option("--redis", help="Redis URL (default: EVOFARM_REDIS_URL).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; change nothing.")] = False,
) -> None:
    """Rename the keys of a Redis from before the hash-tagged layout (farm stopped)."""
    url = redis_url or get_settings().redis_url
    if not url:
        raise UserInputError("no Redis configured: pass --redis or set EVOFARM_REDIS_URL")
    client = connect(url)
    try:
        done = migrate_keys(client, dry_run=dry_run)
    finally:
        client.close()
    typer.echo(json.dumps({**asdict(done), "dry_run": dry_run}))


def register(app: typer.Typer) -> None:
    """Add ``migrate-keys`` to the ``evofarm`` app."""
    app.command("migrate-keys")(migrate)
