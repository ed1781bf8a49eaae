"""``file_ops``: file operations confined to the run's workspace.

Every path is templated first. Writes (``destination``, ``move``, ``delete``,
in-place processing) must lie inside the workspace. A relative *source* is
looked up in the workspace first and then under the runtime's ``base_dir``
(read-only); nothing outside those two directories is reachable.

Operations and results:

- ``copy`` / ``stream_copy``: ``source`` -> ``destination``; ``{"source",
  "destination", "bytes"}``.
- ``move``: like copy, then the (workspace) source is removed.
- ``delete``: ``path`` (or ``source``) inside the workspace; ``{"deleted"}``.
- ``validate``: each of ``files`` (a path or ``{path, must_exist, must_be_file,
  must_be_dir, min_size, max_size}``) is checked; any failed check fails the
  step; ``{"valid": true, "files": [...]}``.
- ``list``: files under ``path`` (default: the workspace) matching ``pattern``
  (glob, default ``*``), ``recursive`` optional; sorted relative paths.
- ``convert``: ``source`` read as JSON, YAML or CSV (by extension) and written to
  ``destination`` as ``format`` (json or yaml).
- ``stream_process``: ``source`` text through ``processor`` (uppercase,
  lowercase, strip, trim, reverse_lines, count_lines) into ``destination`` (or
  in place, inside the workspace); ``{"lines", "bytes", ...}``.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import yaml

from evofarm.errors import StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.schema import FileOpsStep
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.pipeline.workspace import MAX_READ_BYTES, confine, confine_read, read_text, write_text

MAX_LISTED: Final = 10_000
_PROCESSORS: Final[dict[str, Callable[[str], str]]] = {
    "uppercase": str.upper,
    "lowercase": str.lower,
    "strip": lambda t: "\n".join(line.strip() for line in t.splitlines()),
    "trim": str.strip,
    "reverse_lines": lambda t: "\n".join(reversed(t.splitlines())),
    "count_lines": lambda t: t,
}


class _Paths:
    """Path resolution for one step: writes in the workspace, reads also in base_dir."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.workspace = ctx.runtime.workspace.resolve()
        self.base_dir = ctx.runtime.base_dir.resolve()

    def text(self, raw: str) -> str:
        return self.ctx.render(raw).strip()

    def writable(self, raw: str | None, what: str) -> Path:
        if not raw:
            raise StepFailed(f"file_ops needs '{what}'")
        return confine(self.text(raw), self.workspace, what=what)

    def readable(self, raw: str | list[str] | None, what: str = "source") -> Path:
        if not raw:
            raise StepFailed(f"file_ops needs '{what}'")
        if isinstance(raw, list):
            raise StepFailed(f"'{what}' must be one path for this operation")
        name = self.text(raw)
        inside = confine(name, self.workspace, also=(self.base_dir,), what=what)
        if not (inside.exists() or Path(name).is_absolute()):
            inside = confine(name, self.base_dir, what=what)
        # A campaign's candidate reads only its own pipeline files outside the workspace.
        return confine_read(
            str(inside),
            self.base_dir,
            workspace=self.workspace,
            listed=self.ctx.runtime.read_files,
            what=what,
        )

    def shown(self, path: Path) -> str:
        for root in (self.workspace, self.base_dir):
            if path.is_relative_to(root):
                return str(path.relative_to(root))
        return str(path)


def _copy(step: FileOpsStep, paths: _Paths, *, move: bool) -> dict[str, Any]:
    if move:
        # A move deletes its source, so the source must be in the workspace too.
        raw = step.source if isinstance(step.source, str) else None
        source = paths.writable(raw, "source")
    else:
        source = paths.readable(step.source)
    destination = paths.writable(step.destination, "destination")
    if not source.is_file():
        raise StepFailed(f"source {paths.shown(source)} does not exist in the workspace")
    size = source.stat().st_size
    if size > MAX_READ_BYTES:
        raise StepFailed(f"source is {size} bytes; the cap is {MAX_READ_BYTES}")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        if move:
            shutil.move(source, destination)
        else:
            shutil.copyfile(source, destination)
    except OSError as exc:
        raise StepFailed(f"cannot {'move' if move else 'copy'}: {exc}") from None
    return {
        "source": paths.shown(source),
        "destination": paths.shown(destination),
        "bytes": size,
    }


def _delete(step: FileOpsStep, paths: _Paths) -> dict[str, Any]:
    raw = step.path or (step.source if isinstance(step.source, str) else None)
    target = paths.writable(raw, "path")
    if target == paths.workspace:
        raise StepFailed("refusing to delete the workspace itself")
    try:
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    except FileNotFoundError:
        raise StepFailed(f"{paths.shown(target)} does not exist") from None
    except OSError as exc:
        raise StepFailed(f"cannot delete {paths.shown(target)}: {exc}") from None
    return {"deleted": paths.shown(target)}


def _int(spec: dict[str, Any], key: str) -> int:
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise StepFailed(f"validate {key} must be an integer, got {value!r}")
    return value


def _validate(step: FileOpsStep, paths: _Paths) -> dict[str, Any]:
    checked = []
    for entry in step.files or []:
        spec: dict[str, Any] = {"path": entry} if isinstance(entry, str) else dict(entry)
        if not isinstance(spec.get("path"), str):
            raise StepFailed(f"validate entry without a path: {entry!r}")
        path = paths.readable(spec["path"], "path")
        problems = []
        exists = path.exists()
        if spec.get("must_exist", True) and not exists:
            problems.append("does not exist")
        if spec.get("must_be_file") and not path.is_file():
            problems.append("is not a file")
        if spec.get("must_be_dir") and not path.is_dir():
            problems.append("is not a directory")
        size = path.stat().st_size if path.is_file() else 0
        if "min_size" in spec and size < _int(spec, "min_size"):
            problems.append(f"is smaller than {spec['min_size']} bytes")
        if "max_size" in spec and size > _int(spec, "max_size"):
            problems.append(f"is larger than {spec['max_size']} bytes")
        if problems:
            raise StepFailed(f"validation failed: {spec['path']} {', '.join(problems)}")
        checked.append({"path": spec["path"], "exists": exists, "size": size})
    return {"valid": True, "files": checked}


def _list(step: FileOpsStep, paths: _Paths) -> list[str]:
    root = paths.readable(step.path) if step.path else paths.workspace
    if not root.is_dir():
        raise StepFailed(f"{paths.shown(root)} is not a directory")
    pattern = step.pattern or "*"
    found = root.rglob(pattern) if step.recursive else root.glob(pattern)
    listed: list[str] = []
    for path in found:
        # A pattern with '..' could walk out of the root: keep only what is inside.
        if path.is_file() and path.resolve().is_relative_to(root):
            listed.append(str(path.relative_to(root)))
            if len(listed) > MAX_LISTED:
                raise StepFailed(f"more than {MAX_LISTED} files match")
    return sorted(listed)


def _parse(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return json.loads(text)
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
        if suffix == ".csv":
            return list(csv.DictReader(io.StringIO(text)))
    except (ValueError, yaml.YAMLError, csv.Error) as exc:
        raise StepFailed(f"cannot parse {path.name}: {exc}") from None
    raise StepFailed(f"cannot convert {path.name}: unknown input format {suffix or '(none)'}")


def _convert(step: FileOpsStep, paths: _Paths) -> dict[str, Any]:
    source = paths.readable(step.source)
    destination = paths.writable(step.destination, "destination")
    data = _parse(source, read_text(source))
    fmt = (step.format or destination.suffix.lstrip(".") or "json").lower()
    if fmt == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    elif fmt in ("yaml", "yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        raise StepFailed(f"unknown output format {fmt!r} (json or yaml)")
    write_text(destination, text)
    return {"source": paths.shown(source), "destination": paths.shown(destination), "format": fmt}


def _stream_process(step: FileOpsStep, paths: _Paths) -> dict[str, Any]:
    processor = step.processor or "strip"
    function = _PROCESSORS.get(processor)
    if function is None:
        raise StepFailed(f"unknown processor {processor!r} (known: {', '.join(_PROCESSORS)})")
    source = paths.readable(step.source)
    text = read_text(source)
    destination = paths.writable(
        step.destination or (step.source if isinstance(step.source, str) else None), "destination"
    )
    processed = function(text)
    if processor != "count_lines":
        write_text(destination, processed)
    return {
        "source": paths.shown(source),
        "destination": paths.shown(destination),
        "processor": processor,
        "lines": len(text.splitlines()),
        "bytes": len(processed.encode()),
    }


def file_ops(step: FileOpsStep, ctx: StepContext) -> Any:
    """Perform one file operation (see the module docstring)."""
    paths = _Paths(ctx)
    paths.workspace.mkdir(parents=True, exist_ok=True)
    operation = step.operation
    result: Any
    if operation in ("copy", "stream_copy"):
        result = _copy(step, paths, move=False)
    elif operation == "move":
        result = _copy(step, paths, move=True)
    elif operation == "delete":
        result = _delete(step, paths)
    elif operation == "validate":
        result = _validate(step, paths)
    elif operation == "list":
        result = _list(step, paths)
    elif operation == "convert":
        result = _convert(step, paths)
    else:
        result = _stream_process(step, paths)
    if isinstance(result, dict):
        result = {"operation": operation, **result}
    return result


register_step_type(StepType("file_ops", FileOpsStep, file_ops))
