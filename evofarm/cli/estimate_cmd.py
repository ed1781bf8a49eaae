"""``evofarm estimate CAMPAIGN [--json]``: the expected tokens and USD of a run.

Human output: evaluations x cases, LLM calls, the token range and the USD
range, and any model with no known price. ``--json``: the object of
:meth:`evofarm.campaign.estimate.Estimate.to_json`. Exit 0, 2 for bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from evofarm.campaign.estimate import estimate
from evofarm.campaign.spec import load_campaign
from evofarm.cli.output import friendly_errors


def estimate_command(
    campaign: Annotated[Path, typer.Argument(help="The campaign YAML file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Estimate the tokens and USD a campaign will use, before submitting it."""
    data = estimate(load_campaign(campaign)).to_json()
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True))
        return
    typer.echo(
        f"{data['evaluations']} evaluations x {data['cases_per_evaluation']} cases: "
        f"{data['llm_calls']} LLM calls ({data['offline_calls']} offline, free)"
    )
    typer.echo(f"tokens {data['tokens']['low']} - {data['tokens']['high']}")
    typer.echo(f"usd    {data['usd']['low']:.4f} - {data['usd']['high']:.4f}")
    if data["unpriced"]:
        typer.echo(
            "no known price (refused if the campaign has a budget): " + ", ".join(data["unpriced"])
        )


def register(app: typer.Typer) -> None:
    """Add ``estimate`` to the ``evofarm`` app."""
    app.command("estimate")(friendly_errors(estimate_command))
