"""A campaign's own pipeline files: the only files its candidates may read.

The allow-list holds the seed files and, followed from them, every file a
pipeline names literally: ``file`` prompt parts, ``claude_batch`` task files
and nested ``pipeline_file`` paths (relative to the naming pipeline's
directory). A path with a template in it cannot be followed ahead of the run
and is not listed. The campaign's suite is never listed, even when a seed names
it: a candidate that could read its suite (expected outputs included) could
cheat its fitness. Everything else beside the seeds stays unreadable too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evofarm.campaign.spec import CampaignSpec

#: How many pipeline files are followed at most (a guard against reference cycles).
MAX_FILES = 256


def _named(data: Any) -> tuple[list[str], list[str]]:
    """``(read paths, nested pipeline paths)`` written literally anywhere in ``data``."""
    reads: list[str] = []
    nested: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "file" and isinstance(item.get("path"), str):
                reads.append(item["path"])
            if isinstance(item.get("file"), str):
                reads.append(item["file"])
            if isinstance(item.get("pipeline_file"), str):
                nested.append(item["pipeline_file"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return [r for r in reads if "{{" not in r], [n for n in nested if "{{" not in n]


def _resolve(raw: str, folder: Path) -> Path:
    path = Path(raw)
    return (path if path.is_absolute() else folder / path).resolve()


def pipeline_files(spec: CampaignSpec) -> frozenset[Path]:
    """The resolved files of ``spec``'s pipelines, without its suite.

    Files that do not exist (a worker on another machine) are left out; so is
    a pipeline file that does not parse (its load fails elsewhere, clearly).
    """
    suite = spec.suite_path.resolve()
    found: set[Path] = set()
    todo = [p.resolve() for p in spec.seed_paths]
    while todo and len(found) < MAX_FILES:
        path = todo.pop()
        if path in found or path == suite or not path.is_file():
            continue
        found.add(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        reads, nested = _named(data)
        found.update(
            p for p in (_resolve(r, path.parent) for r in reads) if p != suite and p.is_file()
        )
        todo += [_resolve(n, path.parent) for n in nested]
    return frozenset(found)
