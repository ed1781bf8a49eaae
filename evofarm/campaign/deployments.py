"""The versioned deployment registry: approved winners, by name, v1, v2, ...

A deployment is a pipeline that a human approved (``evofarm approve``). Each
name has numbered versions; exactly one is *active* (the last deployed, or the
one rolled back to). Every change is an event with who, when and a note, so
the registry is also the audit trail of human oversight. Layout below
``root`` (by default ``$EVOFARM_STATE_DIR/deployments``)::

    NAME/v1.yaml, NAME/v2.yaml ...   the pipelines (canonical YAML)
    NAME/index.json                  {"active": N, "versions": [...], "events": [...]}

Process safety: every change holds an exclusive ``flock`` on ``NAME/.lock``
and rewrites ``index.json`` atomically (temp file + rename); readers never
see half a file. Version files are written before the index names them.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from evofarm.errors import CampaignStateError, UserInputError
from evofarm.pipeline.loader import dump_pipeline, load_pipeline
from evofarm.pipeline.schema import Pipeline

INDEX = "index.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_VERSION = re.compile(r"^v?([1-9][0-9]*)$")


class Version(BaseModel):
    """One deployed version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    campaign: str
    genome: str | None = None
    fitness: float | None = None
    by: str
    at: float
    note: str = ""


class Event(BaseModel):
    """One change: ``deploy`` or ``rollback`` to ``version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str
    version: int
    by: str
    at: float
    note: str = ""


class Index(BaseModel):
    """``index.json`` of one name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    active: int | None = None
    versions: tuple[Version, ...] = ()
    events: tuple[Event, ...] = ()


def parse_version(text: str) -> int:
    """``vN`` or ``N`` as N.

    Raises:
        UserInputError: not a version.
    """
    match = _VERSION.match(text.strip())
    if match is None:
        raise UserInputError(f"not a version: {text!r} (expected vN, e.g. v2)")
    return int(match.group(1))


class DeploymentRegistry:
    """Versioned deployments below ``root`` (see module docs). Process-safe."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, name: str) -> Path:
        if not _NAME.match(name):
            raise UserInputError(f"invalid deployment name {name!r}")
        return self.root / name

    @contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        folder = self._dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def index(self, name: str) -> Index:
        """The index of ``name`` (empty when never deployed)."""
        path = self._dir(name) / INDEX
        if not path.exists():
            return Index()
        return Index.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def names(self) -> list[str]:
        """Every deployed name, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{INDEX}"))

    def pipeline(self, name: str, version: int | None = None) -> Pipeline:
        """The pipeline of ``version`` (default: the active one).

        Raises:
            CampaignStateError: nothing deployed under ``name``, or no such version.
        """
        index = self.index(name)
        wanted = version if version is not None else index.active
        if wanted is None or all(v.version != wanted for v in index.versions):
            raise CampaignStateError(f"{name!r} has no deployed version {wanted}")
        return load_pipeline(self._dir(name) / f"v{wanted}.yaml")

    def deploy(
        self,
        name: str,
        pipeline: Pipeline,
        *,
        campaign: str,
        by: str,
        genome: str | None = None,
        fitness: float | None = None,
        note: str = "",
    ) -> Version:
        """Add ``pipeline`` as the next version of ``name`` and make it active."""
        with self._locked(name) as folder:
            index = self.index(name)
            number = max((v.version for v in index.versions), default=0) + 1
            now = time.time()
            _atomic_write(folder / f"v{number}.yaml", dump_pipeline(pipeline))
            version = Version(
                version=number, campaign=campaign, genome=genome, fitness=fitness,
                by=by, at=now, note=note,
            )  # fmt: skip
            event = Event(action="deploy", version=number, by=by, at=now, note=note)
            self._write(folder, index, number, version, event)
            return version

    def rollback(self, name: str, to: int, *, by: str, note: str = "") -> Version:
        """Make version ``to`` of ``name`` active again.

        Raises:
            CampaignStateError: no such version (or nothing deployed).
        """
        with self._locked(name) as folder:
            index = self.index(name)
            found = next((v for v in index.versions if v.version == to), None)
            if found is None:
                known = ", ".join(f"v{v.version}" for v in index.versions) or "none"
                raise CampaignStateError(f"{name!r} has no version v{to} (versions: {known})")
            event = Event(action="rollback", version=to, by=by, at=time.time(), note=note)
            self._write(folder, index, to, None, event)
            return found

    @staticmethod
    def _write(
        folder: Path, index: Index, active: int, version: Version | None, event: Event
    ) -> None:
        versions = (*index.versions, version) if version is not None else index.versions
        new = Index(active=active, versions=versions, events=(*index.events, event))
        _atomic_write(folder / INDEX, json.dumps(new.model_dump(mode="json"), indent=2) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
