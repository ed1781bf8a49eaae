"""``evofarm dashboard``, ``evofarm report ID`` and ``evofarm outputs ID``.

* ``dashboard [--host 127.0.0.1] [--port 8765]``: serves the campaigns ``list``
  sees (the shared farm, else the embedded runs of the state directory) behind
  a token: ``EVOFARM_DASHBOARD_TOKEN``, or a random one printed at start; an
  approval from its buttons deploys into ``evofarm approve``'s registry.
* ``report ID -o report.html``: one self-contained HTML file.
* ``outputs ID -o DIR``: summary.json, best.yaml, fitness-history.jsonl and
  generations.jsonl of an ended campaign, rebuilt from the store (also after
  the process writing ``--out`` was killed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evofarm.cli.output import friendly_errors
from evofarm.errors import UserInputError
from evofarm.settings import get_settings

CampaignId = Annotated[str, typer.Argument(help="Campaign id (as printed by run/submit).")]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@friendly_errors
def dashboard(
    *,
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless told).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8765,
) -> None:
    """Serve the evolution dashboard (token-guarded) until Ctrl-C."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from evofarm.cli.approve_cmd import registry  # noqa: PLC0415
    from evofarm.dashboard.app import create_app  # noqa: PLC0415
    from evofarm.dashboard.auth import TOKEN_ENV, resolve_token  # noqa: PLC0415
    from evofarm.dashboard.source import configured_source  # noqa: PLC0415

    token, generated = resolve_token()
    source = configured_source(get_settings())
    shown = f"[{host}]" if ":" in host else host
    print(f"evofarm dashboard on http://{shown}:{port}/", flush=True)
    if generated:
        print(f"token: {token}  (set {TOKEN_ENV} to choose one)", flush=True)
    if host not in LOOPBACK:
        print(f"warning: listening on {host}, beyond this machine", flush=True)
    try:
        app = create_app(source, token, deployments=registry())  # `evofarm approve`'s registry
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        source.close()


@friendly_errors
def report(
    campaign: CampaignId,
    *,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
) -> None:
    """Write a self-contained HTML report of a campaign (trend, lineage, operators, best)."""
    from evofarm.dashboard.report import render_report  # noqa: PLC0415
    from evofarm.farm.session import on_campaign_farm  # noqa: PLC0415

    html = on_campaign_farm(
        get_settings(), campaign, lambda farm: render_report(farm.store, campaign)
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    print(f"wrote {output}")


@friendly_errors
def outputs(
    campaign: CampaignId,
    *,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Directory to write.")] = (
        None
    ),
) -> None:
    """Write an ended campaign's output files (summary, best, histories) into a directory."""
    from evofarm.campaign.reports.readback import write_outputs  # noqa: PLC0415
    from evofarm.farm.session import on_campaign_farm  # noqa: PLC0415

    if output is None:
        raise UserInputError("give the directory to write with -o DIR")
    result = on_campaign_farm(
        get_settings(), campaign, lambda farm: write_outputs(farm.store, campaign, output)
    )
    print(f"wrote {output}/ ({result.status}, best {result.best.fitness})")


def register(app: typer.Typer) -> None:
    """Add ``dashboard``, ``report`` and ``outputs`` to the ``evofarm`` app."""
    app.command("dashboard")(dashboard)
    app.command("report")(report)
    app.command("outputs")(outputs)
