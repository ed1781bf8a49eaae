"""``evofarm worker`` and ``evofarm flower``: join a farm, or watch it in Flower.

Both find the farm the same way: ``EVOFARM_BROKER_URL`` (a shared farm), else
the embedded farm of ``--state-dir`` if one is running there (so more local
workers can join an ``evofarm run``). Both then become the Celery process
(``exec``), so signals reach Celery directly and nothing sits in between.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import redis
import typer

from evofarm.cli.output import friendly_errors
from evofarm.errors import Location, UserInputError
from evofarm.farm import names
from evofarm.farm.app import load_farm_settings
from evofarm.farm.redis_server import locate_socket
from evofarm.settings import get_settings

POOLS = ("prefork", "threads", "solo")

StateDir = Annotated[
    Path | None,
    typer.Option(help="Use the embedded farm running in this state directory."),
]


def _embedded_socket(state_dir: Path) -> Path | None:
    sock = locate_socket(state_dir / "farm")
    if not sock.exists():
        return None
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=2.0)
    try:
        return sock if client.ping() else None
    except redis.RedisError:
        return None
    finally:
        client.close()


def farm_environment(state_dir: Path | None) -> dict[str, str]:
    """The environment pointing Celery at the farm.

    Raises:
        UserInputError: no broker is configured and no embedded farm runs in
            ``state_dir`` (default: the settings' state directory).
    """
    env = dict(os.environ)
    settings = get_settings()
    if settings.broker_url and state_dir is None:
        env.setdefault("EVOFARM_REDIS_URL", settings.redis_url or settings.broker_url)
        return env
    directory = state_dir or settings.state_dir
    sock = _embedded_socket(directory)
    if sock is None:
        raise UserInputError(
            "no farm to join: set EVOFARM_BROKER_URL (and EVOFARM_REDIS_URL) for a shared "
            f"farm, or start `evofarm run` so an embedded farm runs in {directory}",
            Location(key="EVOFARM_BROKER_URL"),
        )
    env["EVOFARM_BROKER_URL"] = env["EVOFARM_REDIS_URL"] = f"unix://{sock.resolve()}"
    return env


def parse_queues(text: str) -> list[str]:
    """Comma-separated queue names, each one of the farm's queues.

    Raises:
        UserInputError: an unknown or empty queue name.
    """
    queues = [q.strip() for q in text.split(",") if q.strip()]
    unknown = [q for q in queues if q not in names.QUEUES]
    if unknown or not queues:
        raise UserInputError(
            f"unknown queue(s) {', '.join(unknown) or '(none)'}: expected some of "
            f"{', '.join(names.QUEUES)}",
            Location(key="--queues"),
        )
    return queues


def worker_argv(
    queues: list[str], concurrency: int | None, pool: str, loglevel: str, name: str | None
) -> list[str]:
    """The ``celery worker`` command line for these options."""
    argv = [sys.executable, "-m", "celery", "-A", "workers", "worker"]
    argv += ["-Q", ",".join(queues), "-P", pool, "--loglevel", loglevel]
    if concurrency is not None:
        argv += ["-c", str(concurrency)]
    if name:
        argv += ["-n", name]
    return argv


@friendly_errors
def worker(
    *,
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Comma-separated queues to consume.")
    ] = ",".join(names.QUEUES),
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", min=1, help="Pool size (default: one per core)."),
    ] = None,
    pool: Annotated[
        str, typer.Option(help="prefork (enforces time limits), threads or solo.")
    ] = "prefork",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    name: Annotated[str | None, typer.Option(help="Node name, e.g. gpu1@%h.")] = None,
    state_dir: StateDir = None,
) -> None:
    """Run a Celery worker of this farm on the farm's queues."""
    if pool not in POOLS:
        raise UserInputError(f"unknown pool {pool!r}: expected one of {', '.join(POOLS)}")
    parsed = parse_queues(queues)
    load_farm_settings()  # fail here, with a clear message, on bad EVOFARM_* limits
    env = farm_environment(state_dir)
    argv = worker_argv(parsed, concurrency, pool, loglevel, name)
    os.execve(sys.executable, argv, env)


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def flower_auth(address: str, configured: str | None, *, no_auth: bool) -> str | None:
    """Flower's basic-auth credentials for ``address``; None only with ``no_auth`` on loopback.

    Args:
        address: the listen address.
        configured: ``EVOFARM_FLOWER_BASIC_AUTH`` ("user:password[,...]"), if set.
        no_auth: the user turned auth off (allowed on a loopback address only).

    Returns:
        The credentials; on loopback with none configured, a one-off
        ``evofarm:<random>`` (printed on stderr by the caller).

    Raises:
        UserInputError: credentials malformed, or a non-loopback address without them.
    """
    if configured:
        if any(":" not in pair or pair.startswith(":") for pair in configured.split(",")):
            raise UserInputError(
                "expected user:password[,user:password]",
                Location(key="EVOFARM_FLOWER_BASIC_AUTH"),
            )
        return configured
    if not _is_loopback(address):
        raise UserInputError(
            f"Flower on {address} would show the farm to the network without a login: set "
            "EVOFARM_FLOWER_BASIC_AUTH=user:password (or listen on 127.0.0.1)",
            Location(key="EVOFARM_FLOWER_BASIC_AUTH"),
        )
    if no_auth:
        return None
    return f"evofarm:{secrets.token_urlsafe(12)}"


@friendly_errors
def flower(
    *,
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 5555,
    address: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="No login (loopback addresses only).")
    ] = False,
    state_dir: StateDir = None,
) -> None:
    """Run Flower (the Celery web monitor) on this farm, behind basic auth by default.

    Credentials come from EVOFARM_FLOWER_BASIC_AUTH; on a loopback address without
    them a one-off password is made and printed. A non-loopback address without
    credentials is refused.
    """
    secret = get_settings().flower_basic_auth
    auth = flower_auth(address, secret.get_secret_value() if secret else None, no_auth=no_auth)
    env = farm_environment(state_dir)
    env.pop("FLOWER_BASIC_AUTH", None)
    if auth is not None:
        # Through the environment, not argv: the command line is visible to every user.
        env["FLOWER_BASIC_AUTH"] = auth
        if not secret:
            user, password = auth.split(":", 1)
            print(f"Flower login: {user} / {password}", file=sys.stderr)
    argv = [sys.executable, "-m", "celery", "-A", "workers", "flower"]
    argv += [f"--address={address}", f"--port={port}"]
    os.execve(sys.executable, argv, env)


def register(app: typer.Typer) -> None:
    """Add ``worker`` and ``flower`` to the ``evofarm`` command."""
    app.command("worker")(worker)
    app.command("flower")(flower)
