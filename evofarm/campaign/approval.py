"""Manual approval of a campaign's winner: the decision ``approval: manual`` waits for.

A campaign whose policy is ``manual`` ends with its winner ``pending``. A human
then approves it (the winner is deployed to the
:class:`~evofarm.campaign.deployments.DeploymentRegistry`) or rejects it with a
reason. The decision (state, who, when, note) is kept where the campaign is:

* farm campaigns: info fields of the campaign record in the store
  (:data:`FIELDS`), read back by ``summary.json`` /
  :func:`evofarm.campaign.reports.readback.summary`;
* in-process runs (``evofarm run --in-process``): a folder per run in the state
  directory (``local/ID/``: ``summary.json``, ``best.yaml``, ``decision.json``),
  recorded by :func:`record_local_run` when the run ends; the run's ``--out``
  ``summary.json`` is updated too when it still belongs to that run.

An approved winner is deployed by :func:`deploy`. Only a ``pending`` winner
can be decided, once. Two humans deciding the same farm campaign at the same
instant may both pass the pending check (the store has no compare-and-set on
info fields); the later write wins and both are deployed as separate
versions, which the registry's events show.
"""

from __future__ import annotations

import getpass
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from evofarm.campaign.control import new_campaign_id
from evofarm.campaign.deployments import DeploymentRegistry, Version
from evofarm.campaign.reports.outputs import SUMMARY, Summary, write_best, write_summary
from evofarm.errors import CampaignStateError, FarmError
from evofarm.keys import check_campaign_id
from evofarm.pipeline.loader import load_pipeline
from evofarm.pipeline.schema import Pipeline
from evofarm.store.base import CampaignRecord, PopulationStore

LOCAL = "local"
DECISION = "decision.json"
META = "run.json"
#: Store info fields holding a farm campaign's decision.
FIELDS = ("approval", "approval_by", "approval_at", "approval_note")

State = Literal["approved", "rejected"]


class Decision(BaseModel):
    """A human's decision on a pending winner."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: State
    by: str
    at: float
    note: str = ""

    @classmethod
    def now(cls, state: State, note: str = "", by: str | None = None) -> Decision:
        """A decision made now by ``by`` (default: the login name)."""
        return cls(state=state, by=by or _user(), at=time.time(), note=note)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class Decided:
    """A recorded decision: the campaign's name (what it deploys as), summary and winner."""

    name: str
    summary: Summary
    best: Pipeline | None


def deploy(
    registry: DeploymentRegistry, campaign: str, decided: Decided, decision: Decision
) -> Version:
    """Deploy an approved winner as the next version of the campaign's name.

    Raises:
        CampaignStateError: there is no winner to deploy.
    """
    if decided.best is None:
        raise CampaignStateError(f"campaign {campaign!r} has no winner to deploy")
    return registry.deploy(
        decided.name,
        decided.best,
        campaign=campaign,
        by=decision.by,
        genome=decided.summary.best.genome,
        fitness=decided.summary.best.fitness,
        note=decision.note,
    )


def stored_decision(record: CampaignRecord) -> Decision | None:
    """The decision kept in a farm campaign's record, if any."""
    state = record.info.get("approval")
    if state not in ("approved", "rejected"):
        return None
    return Decision(
        state=state,
        by=record.info.get("approval_by", ""),
        at=float(record.info.get("approval_at") or 0.0),
        note=record.info.get("approval_note", ""),
    )


def decide_in_store(
    store: PopulationStore, campaign: str, pending: Summary, decision: Decision
) -> None:
    """Keep ``decision`` on the farm campaign whose ended summary is ``pending``.

    Raises:
        CampaignStateError: the winner is not pending (already decided, auto policy).
    """
    _require_pending(campaign, pending)
    store.update_info(
        campaign,
        {
            "approval": decision.state,
            "approval_by": decision.by,
            "approval_at": repr(decision.at),
            "approval_note": decision.note,
        },
    )


def _require_pending(campaign: str, summary: Summary) -> None:
    if summary.approval != "pending":
        raise CampaignStateError(f"campaign {campaign!r} is {summary.approval}, not pending")
    if summary.best.genome is None:
        raise CampaignStateError(f"campaign {campaign!r} has no winner to decide on")


class LocalRun(BaseModel):
    """What the state directory keeps of an in-process run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    summary: Summary
    out: str | None = None


def local_dir(state_dir: Path, run_id: str) -> Path:
    """The folder of an in-process run."""
    return Path(state_dir) / LOCAL / check_campaign_id(run_id)


def record_local_run(
    state_dir: Path, summary: Summary, best: Pipeline | None, out: Path | None
) -> str:
    """Keep an ended in-process run so it can be approved later; returns its id."""
    run_id = new_campaign_id(summary.campaign)
    folder = local_dir(state_dir, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    write_summary(folder, summary)
    if best is not None:
        write_best(folder, best)
    meta = LocalRun(id=run_id, summary=summary, out=str(out.resolve()) if out else None)
    (folder / META).write_text(json.dumps(meta.model_dump(mode="json")), encoding="utf-8")
    return run_id


def is_local_run(state_dir: Path, run_id: str) -> bool:
    """Whether ``run_id`` names an in-process run kept in ``state_dir``."""
    try:
        return (local_dir(state_dir, run_id) / META).is_file()
    except FarmError:
        return False


def decide_local(
    state_dir: Path, run_id: str, decision: Decision
) -> tuple[Summary, Pipeline | None]:
    """Keep ``decision`` on an in-process run; return its updated summary and winner.

    Raises:
        CampaignStateError: no such run, or its winner is not pending.
    """
    folder = local_dir(state_dir, run_id)
    if not (folder / META).is_file():
        raise CampaignStateError(f"no in-process run {run_id!r} in {Path(state_dir) / LOCAL}")
    meta = LocalRun.model_validate_json((folder / META).read_text(encoding="utf-8"))
    summary = Summary.model_validate_json((folder / SUMMARY).read_text(encoding="utf-8"))
    _require_pending(run_id, summary)
    (folder / DECISION).write_text(json.dumps(decision.model_dump(mode="json")), encoding="utf-8")
    decided = summary.model_copy(update={"approval": decision.state})
    write_summary(folder, decided)
    if meta.out is not None:
        out = Path(meta.out)
        try:
            current = Summary.model_validate_json((out / SUMMARY).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            current = None
        # Only the run's own --out summary: a later run may have reused the folder.
        if current == meta.summary:
            write_summary(out, decided)
    best = folder / "best.yaml"
    return decided, load_pipeline(best) if best.exists() else None


def local_decision(state_dir: Path, run_id: str) -> Decision | None:
    """The decision on an in-process run, if one was made."""
    path = local_dir(state_dir, run_id) / DECISION
    if not path.exists():
        return None
    return Decision.model_validate_json(path.read_text(encoding="utf-8"))
