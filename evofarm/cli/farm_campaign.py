"""The farm side of the campaign commands.

``run`` (distributed, the default), ``submit``, ``watch``, ``status``, ``list``,
``stop``, ``kill [--all]`` (:mod:`evofarm.cli.kill_cmd`), ``resume``, ``best`` and
``export``. Every command works on the shared farm when ``EVOFARM_BROKER_URL`` is set, else on the
embedded farms in the state directory (one per campaign, see
:mod:`evofarm.farm.session`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from evofarm.campaign import control, lifecycle
from evofarm.campaign.bundle import decode
from evofarm.campaign.reports import anomaly_events
from evofarm.campaign.reports.progress import budget_use, describe_extra, eta_s
from evofarm.campaign.reports.readback import (
    Snapshot,
    best_pipeline,
    export,
    snapshot,
    write_outputs,
)
from evofarm.campaign.scheduler import liveness
from evofarm.campaign.scheduler.driver import SchedulerOptions
from evofarm.campaign.spec import CampaignBudgets, load_campaign
from evofarm.cli import kill_cmd
from evofarm.cli.farm_progress import ProgressView
from evofarm.cli.output import friendly_errors
from evofarm.dashboard.source import Fleet, celery_fleet
from evofarm.errors import CampaignStateError, FarmError, UserInputError
from evofarm.farm import daemon
from evofarm.farm.app import load_farm_settings
from evofarm.farm.redis_server import locate_socket
from evofarm.farm.runner import run_scheduler, scheduler_options
from evofarm.farm.session import (
    Farm,
    campaign_farm,
    embedded_campaigns,
    embedded_farm,
    is_shared,
    on_campaign_farm,
    run_dir,
    shared_farm,
)
from evofarm.pipeline.loader import dump_pipeline
from evofarm.settings import get_settings
from evofarm.store.base import SharedStore

#: How long ``submit`` waits for an embedded campaign's farm to come up.
SUBMIT_WAIT_S = 60.0
#: How long ``submit`` on a shared farm waits for a scheduler service to take the
#: campaign before scheduling it from the submitting machine (services poll each second).
SERVICE_PICKUP_S = 5.0

CampaignId = Annotated[str, typer.Argument(help="Campaign id (as printed by run/submit).")]
Workers = Annotated[
    int | None,
    typer.Option("--workers", "-w", min=0, help="Local worker processes (default: one per core)."),
]


def _finish_line(snap: Snapshot) -> str:
    best = "-" if snap.best_fitness is None else f"{snap.best_fitness:.4f}"
    return (
        f"{snap.campaign}: {snap.status} ({snap.reason}); generation {snap.generation}, "
        f"{snap.evaluations} evaluations, best {best}"
    )


def _run_on(farm: Farm, campaign: str, out: Path | None, options: SchedulerOptions) -> int:
    try:
        with ProgressView(campaign) as view:
            outcome = run_scheduler(farm, campaign, progress=view.update, options=options)
    except KeyboardInterrupt:
        print(
            f"{campaign}: interrupted; continue with `evofarm resume {campaign}`", file=sys.stderr
        )
        raise
    snap = snapshot(farm.store, campaign)
    if out is not None:
        write_outputs(farm.store, campaign, out)
    print(_finish_line(snap))
    return 0 if outcome.status in {"completed", "stopped"} else 1


def run_distributed(
    campaign_file: Path, *, workers: int | None, seed: int | None, out: Path | None
) -> int:
    """``evofarm run`` on the farm: submit, schedule here with a progress bar, write outputs.

    Returns:
        The exit code: 0 if the campaign completed or stopped on a budget, else 1.
    """
    settings = get_settings()
    spec = load_campaign(campaign_file)
    options = scheduler_options(load_farm_settings())
    if is_shared(settings):
        if workers is not None:
            raise UserInputError(
                "--workers starts local workers for the embedded farm only; with "
                "EVOFARM_BROKER_URL set, start workers on the farm with `evofarm worker`"
            )
        with shared_farm(settings) as farm:
            online = celery_fleet(farm.app).workers_online
            if online == 0:
                print(
                    "warning: no worker answers on the shared farm; the campaign waits "
                    "until one runs (`evofarm worker`)",
                    file=sys.stderr,
                )
            campaign = control.submit(farm.store, spec, seed=seed)
            print(campaign)
            return _run_on(farm, campaign, out, options)
    campaign = control.new_campaign_id(spec.name)
    print(campaign)
    with embedded_farm(settings, campaign, workers=workers) as farm:
        control.submit(farm.store, spec, seed=seed, campaign_id=campaign)
        return _run_on(farm, campaign, out, options)


def _wait_submitted(campaign: str) -> None:
    """Wait until the daemon's embedded farm holds the campaign (or failed)."""
    settings = get_settings()
    farm_dir = run_dir(settings, campaign) / "farm"
    deadline = time.monotonic() + SUBMIT_WAIT_S
    while time.monotonic() < deadline:
        if locate_socket(farm_dir).exists():
            try:
                with campaign_farm(settings, campaign) as farm:
                    if farm.store.get_status(campaign) is not None:
                        return
            except FarmError:
                pass
        time.sleep(0.2)
    log = daemon.log_path(settings, campaign)
    raise FarmError(f"campaign {campaign} did not start within {SUBMIT_WAIT_S:.0f}s; see {log}")


@friendly_errors
def submit(
    campaign_file: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    *,
    seed: Annotated[int | None, typer.Option(help="Override the campaign's seed.")] = None,
    workers: Workers = None,
) -> None:
    """Submit a campaign and print its id at once; it runs on without this terminal."""
    settings = get_settings()
    spec = load_campaign(campaign_file)  # fail here, with file:line, not in the daemon
    if is_shared(settings):
        with shared_farm(settings) as farm:
            campaign = control.submit(farm.store, spec, seed=seed)
            # A scheduler service on the farm takes it: nothing stays running here.
            taken = control.wait_taken(farm.store, campaign, SERVICE_PICKUP_S)
        if not taken:
            print(
                f"{campaign}: no scheduler service took it within {SERVICE_PICKUP_S:.0f}s; "
                "scheduling it from this machine (run `evofarm scheduler` on the farm "
                "to need no local process)",
                file=sys.stderr,
            )
            daemon.spawn(campaign)
    else:
        campaign = control.new_campaign_id(spec.name)
        daemon.spawn(campaign, file=campaign_file, seed=seed, workers=workers)
        _wait_submitted(campaign)
    print(campaign)


#: How often ``watch`` asks the broker which workers are online (a ping waits).
FLEET_EVERY_S = 5.0


def _anomaly_lines(
    store: SharedStore, campaign: str, fleet: Fleet | None
) -> list[dict[str, object]]:
    found: list[dict[str, object]] = list(anomaly_events.stored(store, campaign))
    if fleet is not None:
        found += anomaly_events.live(
            store, campaign, workers_online=fleet.workers_online, queued=fleet.queues
        )
    return found


def _print_new(found: list[dict[str, object]], seen: set[str]) -> None:
    for anomaly in found:
        line = (
            f"anomaly: generation {anomaly['generation']}: {anomaly['kind']}: {anomaly['message']}"
        )
        if line not in seen:
            seen.add(line)
            print(line, file=sys.stderr)


@friendly_errors
def watch(
    campaign: CampaignId,
    *,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the output files here at the end.")
    ] = None,
) -> None:
    """Follow a campaign until it ends (ETA, budget use, workers, anomalies).

    Exits 0 when it completed or stopped, 1 when it was killed or failed.
    """
    seen: set[str] = set()

    def follow(farm: Farm) -> Snapshot:
        record = lifecycle.require(farm.store, campaign)
        budgets = decode(campaign, record.spec).spec.budgets
        fleet: Fleet | None = None
        asked = 0.0
        snap = snapshot(farm.store, campaign)
        with ProgressView(campaign) as view:
            while snap.status in lifecycle.ACTIVE:
                if time.monotonic() - asked >= FLEET_EVERY_S:
                    fleet, asked = celery_fleet(farm.app), time.monotonic()
                workers = fleet.workers_online if fleet else None
                view.update(snap, describe_extra(budgets, snap, workers))
                _print_new(_anomaly_lines(farm.store, campaign, fleet), seen)
                time.sleep(0.5)
                snap = snapshot(farm.store, campaign)
            view.update(snap, describe_extra(budgets, snap, None))
        _print_new(_anomaly_lines(farm.store, campaign, None), seen)
        if out is not None:
            write_outputs(farm.store, campaign, out)
        return snap

    # The campaign's own farm stops when it ends: the last reads go to its data on disk.
    snap = on_campaign_farm(get_settings(), campaign, follow)
    print(_finish_line(snap))
    raise typer.Exit(0 if snap.status in {"completed", "stopped"} else 1)


def _shown(farm: Farm, snap: Snapshot) -> Snapshot:
    """``snap`` as users see it: a running campaign nobody drives is ``interrupted``."""
    status, reason = liveness.shown_status(farm.store, snap.campaign, snap.status)
    if status == snap.status:
        return snap
    return dataclasses.replace(snap, status=status, reason=reason)


def _snapshot_dict(snap: Snapshot) -> dict[str, object]:
    return {
        "campaign": snap.campaign,
        "status": snap.status,
        "reason": snap.reason,
        "generation": snap.generation,
        "generations": snap.generations,
        "best_fitness": snap.best_fitness,
        "evaluations": snap.evaluations,
        "tokens": snap.tokens,
        "cost_usd": round(snap.cost_usd, 6),
        "wall_s": round(snap.wall_s, 3),
    }


@friendly_errors
def status(
    campaign: CampaignId,
    *,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one campaign's state, figures, budget use and anomalies."""

    def read(farm: Farm) -> tuple[Snapshot, CampaignBudgets, Fleet | None, list[dict[str, object]]]:
        snap = _shown(farm, snapshot(farm.store, campaign))
        record = lifecycle.require(farm.store, campaign)
        budgets = decode(campaign, record.spec).spec.budgets
        fleet = celery_fleet(farm.app) if snap.status in lifecycle.ACTIVE else None
        return snap, budgets, fleet, _anomaly_lines(farm.store, campaign, fleet)

    snap, budgets, fleet, found = on_campaign_farm(get_settings(), campaign, read)
    workers = fleet.workers_online if fleet else None
    if as_json:
        doc = _snapshot_dict(snap)
        doc.update(
            budget_use=budget_use(budgets, snap),
            eta_s=eta_s(snap),
            workers_online=workers,
            queues=fleet.queues if fleet else {},
            anomalies=found,
        )
        print(json.dumps(doc))
        return
    best = "-" if snap.best_fitness is None else f"{snap.best_fitness:.4f}"
    print(f"{snap.campaign}  {snap.status}  {snap.reason}".rstrip())
    print(
        f"generation {snap.generation}/{snap.generations}  {snap.evaluations} evaluations  "
        f"best {best}  tokens {snap.tokens}  ${snap.cost_usd:.4f}  {snap.wall_s:.1f}s"
    )
    extra = describe_extra(budgets, snap, workers)
    if extra:
        print(extra)
    for anomaly in found:
        print(
            f"anomaly: generation {anomaly['generation']}: {anomaly['kind']}: {anomaly['message']}"
        )


def _shown_snapshot(campaign: str) -> Callable[[Farm], Snapshot]:
    return lambda farm: _shown(farm, snapshot(farm.store, campaign))


def _all_snapshots() -> list[Snapshot]:
    settings = get_settings()
    if is_shared(settings):
        with shared_farm(settings) as farm:
            return [_shown(farm, snapshot(farm.store, r.id)) for r in farm.store.list_campaigns()]
    found = []
    for campaign in embedded_campaigns(settings):
        try:
            found.append(on_campaign_farm(settings, campaign, _shown_snapshot(campaign)))
        except FarmError:
            continue  # a run directory whose campaign never got submitted
    return found


@friendly_errors
def list_campaigns(
    *, as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False
) -> None:
    """List the farm's campaigns, oldest first."""
    snaps = _all_snapshots()
    if not snaps and not as_json:
        print("no campaigns yet: `evofarm run pipelines/campaigns/demo.yaml` starts one")
    for snap in snaps:
        if as_json:
            print(json.dumps(_snapshot_dict(snap)))
        else:
            best = "-" if snap.best_fitness is None else f"{snap.best_fitness:.4f}"
            print(f"{snap.campaign}  {snap.status:<9}  gen {snap.generation}  best {best}")


@friendly_errors
def stop(campaign: CampaignId) -> None:
    """Stop a campaign after its current generation (it is checkpointed)."""
    on_campaign_farm(
        get_settings(), campaign, lambda farm: lifecycle.request_stop(farm.store, campaign)
    )
    print(f"{campaign}: stop requested; it ends after the current generation")


@friendly_errors
def resume(
    campaign: CampaignId,
    *,
    workers: Workers = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write outputs here.")] = None,
) -> None:
    """Continue a campaign from its last checkpoint (reusing every stored result)."""
    settings = get_settings()
    # A SIGKILLed scheduler still holds the lease until it expires: wait for it.
    options = scheduler_options(load_farm_settings(), resume=True)
    if is_shared(settings):
        with shared_farm(settings) as farm:
            lifecycle.require(farm.store, campaign)
            raise typer.Exit(_run_on(farm, campaign, out, options))
    if not (run_dir(settings, campaign) / "farm").is_dir():
        raise CampaignStateError(f"no campaign {campaign!r} in {settings.state_dir}")
    with embedded_farm(settings, campaign, workers=workers) as farm:
        lifecycle.require(farm.store, campaign)
        code = _run_on(farm, campaign, out, options)
    raise typer.Exit(code)


@friendly_errors
def best(
    campaign: CampaignId,
    *,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Write the campaign's best pipeline as a pipeline_ex YAML file."""
    text = on_campaign_farm(
        get_settings(), campaign, lambda farm: dump_pipeline(best_pipeline(farm.store, campaign))
    )
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}")


@friendly_errors
def export_cmd(
    campaign: CampaignId,
    *,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write.")] = Path(),
) -> None:
    """Write the fitness history (JSONL) and the lineage (JSON) of a campaign."""
    history, lineage = on_campaign_farm(
        get_settings(), campaign, lambda farm: export(farm.store, campaign, output)
    )
    print(f"wrote {history} and {lineage}")


def register(app: typer.Typer) -> None:
    """Add the farm campaign commands (all but ``run``, which campaign_cmd owns)."""
    app.command("submit")(submit)
    app.command("watch")(watch)
    app.command("status")(status)
    app.command("list")(list_campaigns)
    app.command("stop")(stop)
    app.command("kill")(kill_cmd.kill)
    app.command("resume")(resume)
    app.command("best")(best)
    app.command("export")(export_cmd)
