"""``evofarm run CAMPAIGN``: run a campaign, on the farm or (``--in-process``) here.

``--in-process`` runs the whole campaign in this process with
:func:`evofarm.campaign.local.loop.run_in_process` (the reference result the farm
reproduces for the same seed) and shows generation, best fitness and
evaluations as it goes. Without it, the run goes to the farm
(:func:`evofarm.cli.farm_campaign.run_distributed`). Both write the same
``--out`` files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evofarm.campaign.approval import record_local_run
from evofarm.campaign.local.loop import Progress as LoopProgress
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports.outputs import Summary
from evofarm.campaign.spec import load_campaign
from evofarm.cli.output import friendly_errors
from evofarm.settings import get_settings

CampaignFile = Annotated[
    Path, typer.Argument(help="Campaign YAML file.", dir_okay=False, show_default=False)
]
InProcess = Annotated[
    bool, typer.Option("--in-process", help="Run everything in this process (no farm).")
]
Seed = Annotated[int | None, typer.Option("--seed", help="Override the campaign's seed.")]
Out = Annotated[
    Path | None,
    typer.Option("--out", help="Write summary.json, best.yaml, fitness-history.jsonl here."),
]
Workers = Annotated[
    int | None,
    typer.Option("--workers", "-w", min=0, help="Local worker processes (farm runs only)."),
]


def _finish_line(summary: Summary) -> str:
    best = "-" if summary.best.fitness is None else f"{summary.best.fitness:.4f}"
    return (
        f"{summary.campaign}: {summary.status} ({summary.reason}); generation "
        f"{summary.generations}, {summary.evaluations} evaluations, best {best}, "
        f"{summary.wall_s:.1f}s"
    )


def run_here(campaign_file: Path, *, seed: int | None, out: Path | None) -> Summary:
    """Run ``campaign_file`` in this process with a rich progress bar; return its summary.

    Raises:
        UserInputError: the campaign, a seed pipeline or the suite is invalid.
    """
    spec = load_campaign(campaign_file)
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]:.4f}  evals {task.fields[evals]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(
            f"{spec.name} generation", total=spec.evolution.generations, best=0.0, evals=0
        )

        def update(p: LoopProgress) -> None:
            bar.update(task, completed=p.generation, best=p.best_fitness, evals=p.evaluations)

        result = run_in_process(spec, seed=seed, out_dir=out, progress=update)
    best = result.best.to_pipeline() if result.best else None
    run_id = record_local_run(get_settings().state_dir, result.summary, best, out)
    if result.summary.approval == "pending":
        console.print(f"winner pending approval: evofarm approve {run_id} (or reject)")
    return result.summary


@friendly_errors
def run(
    campaign_file: CampaignFile,
    in_process: InProcess = False,
    seed: Seed = None,
    out: Out = None,
    workers: Workers = None,
) -> None:
    """Run a campaign to its end and print the result; --out writes the output files."""
    if in_process:
        summary = run_here(campaign_file, seed=seed, out=out)
        print(_finish_line(summary))
        raise typer.Exit(0 if summary.status in ("completed", "stopped") else 1)
    # Imported only for farm runs: the farm stack is heavy and --in-process needs none of it.
    from evofarm.cli.farm_campaign import run_distributed  # noqa: PLC0415

    raise typer.Exit(run_distributed(campaign_file, workers=workers, seed=seed, out=out))


def register(app: typer.Typer) -> None:
    """Add ``run`` to the ``evofarm`` app (the farm commands register themselves)."""
    app.command("run")(run)
