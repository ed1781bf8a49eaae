"""The background scheduler ``evofarm submit`` leaves running after it returns.

``python -m evofarm.farm.daemon --campaign ID [--file CAMPAIGN --seed N] [--workers N]``

On a shared farm it runs the scheduler of an already submitted campaign. With
no broker configured it starts the campaign's embedded farm first (and, given
``--file``, submits the campaign into it), runs the scheduler, and stops the
farm when the campaign ends, leaving no process behind. It runs in its own
session, detached from the terminal; its log is ``scheduler.log`` in the run
directory (embedded) or the state directory (shared).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from evofarm.campaign import control
from evofarm.campaign.spec import load_campaign
from evofarm.errors import FarmError
from evofarm.farm.app import load_farm_settings
from evofarm.farm.runner import run_scheduler, scheduler_options
from evofarm.farm.session import embedded_farm, is_shared, run_dir, shared_farm
from evofarm.settings import Settings, get_settings

log = logging.getLogger("evofarm.daemon")


def log_path(settings: Settings, campaign: str) -> Path:
    """Where the daemon of ``campaign`` logs."""
    if is_shared(settings):
        return Path(settings.state_dir).resolve() / f"scheduler-{campaign}.log"
    return run_dir(settings, campaign) / "scheduler.log"


def spawn(
    campaign: str,
    *,
    file: Path | None = None,
    seed: int | None = None,
    workers: int | None = None,
) -> int:
    """Start the daemon for ``campaign``, detached; return its pid."""
    settings = get_settings()
    path = log_path(settings, campaign)
    path.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "evofarm.farm.daemon", "--campaign", campaign]
    if file is not None:
        argv += ["--file", str(file.resolve())]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    with path.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal that submitted it
            cwd=os.getcwd(),
        )
    return proc.pid


def run(campaign: str, file: Path | None, seed: int | None, workers: int | None) -> str:
    """Run the campaign's scheduler (and embedded farm) to the end; return its status."""
    settings = get_settings()
    options = scheduler_options(load_farm_settings())
    if is_shared(settings):
        with shared_farm(settings) as farm:
            if file is not None:
                control.submit(farm.store, load_campaign(file), seed=seed, campaign_id=campaign)
            return run_scheduler(farm, campaign, options=options).status
    with embedded_farm(settings, campaign, workers=workers) as farm:
        if file is not None and farm.store.get_status(campaign) is None:
            control.submit(farm.store, load_campaign(file), seed=seed, campaign_id=campaign)
        return run_scheduler(farm, campaign, options=options).status


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit code 0 when the campaign ended, 1 on an error."""
    parser = argparse.ArgumentParser(prog="evofarm-daemon")
    parser.add_argument("--campaign", required=True)
    parser.add_argument("--file", type=Path)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        status = run(args.campaign, args.file, args.seed, args.workers)
    except KeyboardInterrupt:
        log.info("campaign %s interrupted", args.campaign)
        return 1
    except FarmError as exc:
        log.error("campaign %s: %s", args.campaign, exc)
        return 1
    log.info("campaign %s ended: %s", args.campaign, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
