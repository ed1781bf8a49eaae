"""``evofarm genesis "REQUEST" [--suite S] [--provider P] [--model M] -o FILE``.

Runs ``pipelines/meta/genesis_pipeline.yaml`` on the request (and, with
``--suite``, a summary of the suite's training cases), parses the answer
strictly and writes the first valid pipeline to FILE. An invalid proposal is
retried, at most ``--tries`` times in all. Exit 0 with the file written; exit 1
with the discard reasons when no proposal was valid; 2 for bad input (files,
options); never a traceback. Prints the proposer's billed tokens and cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from evofarm.campaign.genesis import genesis
from evofarm.campaign.proposer import CampaignProposer
from evofarm.campaign.spec import ProposerConfig
from evofarm.cli.output import EXIT_USER_INPUT, fail, friendly_errors
from evofarm.fitness.suite import load_suite
from evofarm.pipeline.loader import dump_pipeline


def genesis_command(  # noqa: PLR0917 - typer maps parameters to options
    request: Annotated[str, typer.Argument(help="What the pipeline should do.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the pipeline.")],
    suite: Annotated[
        Path | None, typer.Option("--suite", help="A task suite whose training cases guide it.")
    ] = None,
    provider: Annotated[
        str, typer.Option("--provider", help="Proposer provider (anthropic, replay, mock, ...).")
    ] = "anthropic",
    model: Annotated[
        str | None, typer.Option("--model", help="Model id or alias (default: the provider's).")
    ] = None,
    tries: Annotated[int, typer.Option("--tries", min=1, max=20, help="Proposals at most.")] = 3,
) -> None:
    """Write a pipeline for REQUEST (genesis), or exit non-zero with why."""
    try:
        config = ProposerConfig.model_validate({"provider": provider, "model": model})
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        raise fail(f"--{problem['loc'][0]}: {problem['msg']}", EXIT_USER_INPUT) from None
    runtime = CampaignProposer(config).metered()
    made = genesis(request, runtime, suite=load_suite(suite) if suite else None, tries=tries)
    usage = runtime.usage
    typer.echo(
        f"genesis: {made.tries} proposal(s), {usage.tokens} tokens, ${usage.cost_usd:.4f}",
        err=True,
    )
    if not made.pipelines:
        reasons = ", ".join(f"{k} x{n}" for k, n in sorted(made.discarded.items()))
        raise fail(f"no valid pipeline in {made.tries} proposal(s): {reasons}")
    output.write_text(dump_pipeline(made.pipelines[0]))
    typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add ``genesis`` to the ``evofarm`` app."""
    app.command("genesis")(friendly_errors(genesis_command))
