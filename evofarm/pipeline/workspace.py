"""Path confinement: a run reads and writes only where it is allowed to.

Every path a pipeline names (``file_ops``, ``output_to_file``, ``file`` prompt
parts, nested ``pipeline_file``, ``conditional_deploy`` targets) goes through
:func:`confine`. A relative path is taken relative to the root; the result,
with ``..`` and symbolic links resolved, must lie inside one of the allowed
roots, or the step fails. Reads are size-capped so a huge file cannot exhaust
memory.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from evofarm.errors import StepFailed

MAX_READ_BYTES: Final = 10_000_000


def confine(path: str, root: Path, *, also: Sequence[Path] = (), what: str = "path") -> Path:
    """The absolute, resolved form of ``path``, which must lie inside an allowed root.

    Args:
        path: As written in the pipeline (relative to ``root``, or absolute).
        root: The first allowed root; relative paths are resolved against it.
        also: Further allowed roots (e.g. the workspace for reads).
        what: How to call the path in an error message.

    Raises:
        StepFailed: the path is empty, contains a NUL byte, or escapes every root.
    """
    if not path or "\x00" in path:
        raise StepFailed(f"invalid {what} {path!r}")
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:
        raise StepFailed(f"cannot resolve {what} {path!r}: {exc}") from None
    for allowed in (root, *also):
        base = allowed.resolve()
        if resolved == base or resolved.is_relative_to(base):
            return resolved
    roots = ", ".join(str(r) for r in (root, *also))
    raise StepFailed(f"{what} {path!r} is outside the allowed directories ({roots})")


def confine_read(
    raw: str,
    base_dir: Path,
    *,
    also: Sequence[Path] = (),
    workspace: Path | None = None,
    listed: frozenset[Path] | None = None,
    what: str = "path",
) -> Path:
    """Where a pipeline may read ``raw`` from: :func:`confine` to ``base_dir``,
    ``also`` and ``workspace``; with ``listed`` (a campaign's own pipeline
    files), outside ``workspace`` only those exact files.

    Raises:
        StepFailed: outside every root, or not a listed file.
    """
    roots = (*also, workspace) if workspace is not None else tuple(also)
    path = confine(raw, base_dir, also=roots, what=what)
    if listed is None or path in listed:
        return path
    if workspace is not None and path.is_relative_to(workspace.resolve()):
        return path
    raise StepFailed(
        f"{what} {raw!r} is not one of the campaign's pipeline files: a candidate reads "
        "only those and its workspace, never its suite"
    )


def read_text(path: Path, *, what: str = "file", encoding: str = "utf-8") -> str:
    """Read a text file of at most :data:`MAX_READ_BYTES`.

    ``encoding`` is a Python text codec, or ``base64`` for the base64 text of
    the file's bytes (binary content in a prompt).

    Raises:
        StepFailed: missing, not a regular file, too large or not decodable.
    """
    try:
        size = path.stat().st_size
    except OSError:
        raise StepFailed(f"Failed to read {what}: {path} does not exist") from None
    if not path.is_file():
        raise StepFailed(f"Failed to read {what}: {path} is not a regular file")
    if size > MAX_READ_BYTES:
        raise StepFailed(f"{what} {path} is {size} bytes; the cap is {MAX_READ_BYTES}")
    try:
        data = path.read_bytes()
        if encoding == "base64":
            return base64.b64encode(data).decode("ascii")
        return data.decode(encoding)
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        raise StepFailed(f"Failed to read {what} {path}: {exc}") from None


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (parents created), atomically via a temporary file.

    Raises:
        StepFailed: the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise StepFailed(f"cannot write {path}: {exc}") from None


def as_file_text(value: Any) -> str:
    """How a result is written to a file: text as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
