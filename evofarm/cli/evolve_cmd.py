"""``evofarm evolve``: the agent workflow on one pipeline, and its history.

``evofarm evolve PIPELINE --suite SUITE [--step NAME] [--attempts 3]
[--history-file F] [--provider P] [--model M] [--workflow TYPE] [--config F]``
runs :func:`evofarm.agent.evolve.evolve` and prints one line per attempt and
the result. ``evofarm evolve --history [--history-file F]`` prints the trend
per pipeline (a table with a sparkline, best and last fitness, tokens spent).

The history file defaults to ``$EVOFARM_STATE_DIR/fitness-history.jsonl``.
Exit status: 0 when the run ended normally (improved or not), 2 for bad input,
1 for other errors.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, cast, get_args

import typer

from evofarm.agent.evolve import EvolveOptions, evolve, file_judge
from evofarm.agent.history import read_rows, trends
from evofarm.agent.workflows import WorkflowType, load_agent_config
from evofarm.cli.output import fail, friendly_errors
from evofarm.fitness.suite import load_suite
from evofarm.providers.registry import ProviderSet
from evofarm.settings import get_settings

HISTORY_FILE = "fitness-history.jsonl"


def history_path(given: Path | None) -> Path:
    """``given``, else the state directory's history file."""
    return given if given is not None else get_settings().state_dir / HISTORY_FILE


def print_history(path: Path) -> None:
    """The trend table of the history at ``path``."""
    found = trends(read_rows(path))
    if not found:
        typer.echo(f"no history in {path}")
        return
    width = max(8, *(len(t.pipeline) for t in found))
    typer.echo(f"{'pipeline':<{width}}  runs  kept  first   best    last    tokens  trend")
    for t in found:
        typer.echo(
            f"{t.pipeline:<{width}}  {t.judgements:>4}  {t.kept:>4}  {t.first:.4f}  "
            f"{t.best:.4f}  {t.last:.4f}  {t.tokens:>6}  {t.spark}"
        )


def evolve_command(
    pipeline: Annotated[
        Path | None, typer.Argument(help="The pipeline YAML file to evolve.", dir_okay=False)
    ] = None,
    *,
    suite: Annotated[
        Path | None, typer.Option("--suite", help="The task suite (YAML or JSONL).")
    ] = None,
    step: Annotated[str | None, typer.Option("--step", help="Evolve only this step.")] = None,
    attempts: Annotated[int, typer.Option("--attempts", min=1, help="Attempts at most.")] = 3,
    history_file: Annotated[
        Path | None, typer.Option("--history-file", help="The fitness history JSONL.")
    ] = None,
    provider: Annotated[
        str, typer.Option("--provider", help="Provider of the judge and the proposer.")
    ] = "mock",
    model: Annotated[str, typer.Option("--model", help="The proposer's model.")] = "haiku",
    workflow: Annotated[
        str, typer.Option("--workflow", help="Workflow type: feature, bugfix, refactor, security.")
    ] = "feature",
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML with workflow budgets / instructions.")
    ] = None,
    history: Annotated[bool, typer.Option("--history", help="Show the fitness trend.")] = False,
) -> None:
    """Judge a pipeline and keep LLM-proposed improvements only when fitness rises."""
    path = history_path(history_file)
    if history:
        print_history(path)
        return
    if pipeline is None or suite is None:
        raise fail("evolve needs PIPELINE and --suite (or --history)", 2)
    types = get_args(WorkflowType)
    if workflow not in types:
        raise fail(f"unknown workflow {workflow!r}; expected one of: {', '.join(types)}", 2)
    options = EvolveOptions(
        proposer=provider,
        model=model,
        workflow=cast(WorkflowType, workflow),
        attempts=attempts,
        step=step,
        history=path,
        config=load_agent_config(config),
    )
    loaded = load_suite(suite)
    with tempfile.TemporaryDirectory(prefix="evofarm-evolve-") as tmp:
        judge = file_judge(loaded, ProviderSet.for_provider(provider), Path(tmp))
        result = evolve(pipeline, loaded, judge, options)
    typer.echo(f"judged {result.initial:.4f}")
    for n, a in enumerate(result.attempts, 1):
        typer.echo(f"attempt {n} [{a.strategy}]: {a.note}")
    for reason, count in sorted(result.discarded.items()):
        typer.echo(f"discarded {count} proposal(s): {reason}")
    typer.echo(
        f"fitness {result.initial:.4f} -> {result.final:.4f}; stopped: {result.stop}; "
        f"tokens {result.tokens}; history {path}"
    )


def register(app: typer.Typer) -> None:
    """Add ``evolve`` to the ``evofarm`` app."""
    app.command("evolve")(friendly_errors(evolve_command))
