"""Task suites: reading suite files (YAML or JSONL) into :class:`TaskSuite`.

The models (:class:`TaskSuite`, :class:`Case`, :class:`Budgets`) live in
:mod:`evofarm.fitness.suite_models` and are re-exported here.

**YAML** (``.yaml``/``.yml``): one mapping with the suite's keys::

    name: word-stats
    predicates: text            # optional: allow-listed module of custom checks
    budgets: {tokens_per_case: 2000, time_ms_per_case: 5000}
    required_checks:            # run on every case; always gates
      - {type: custom, name: non_empty}
    cases:
      - id: short
        inputs: {text: "a b c"}
        checks:
          - {type: numeric, value: 3, path: steps.count.result}
    split: {validation: 0.3, seed: 7}   # optional: hold out 30 % of the cases
    # or, instead of split, explicit held-out cases:
    # validation:
    #   - {id: held, inputs: {...}, checks: [...]}

A held-out split is never shown to selection: campaigns evolve on
``suite.training()`` and choose their winner on ``suite.held_out()``.

**JSONL** (``.jsonl``): one JSON object per line. The first non-blank line
may be a header ``{"suite": {...}}`` holding the suite-level keys (name,
description, predicates, budgets, required_checks); every other non-blank
line is one case. Without a header the suite's name is the file's stem.

Every problem raises :class:`~evofarm.errors.SuiteError` with the file, the
line and the key path (``cases[2].checks[0].pattern``) and what was
expected. Files over :data:`MAX_SUITE_BYTES` are refused before parsing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from evofarm.errors import Location, SuiteError
from evofarm.fitness.suite_errors import LocatedValueError
from evofarm.fitness.suite_models import Budgets, Case, TaskSuite
from evofarm.pipeline.yaml_source import format_path, parse_yaml, read_text

__all__ = [
    "Budgets",
    "Case",
    "TaskSuite",
    "load_suite",
    "load_suite_jsonl",
    "load_suite_text",
    "resolve_suite",
    "suite_from_data",
]

MAX_SUITE_BYTES = 16 * 1024 * 1024
#: YAML nodes a suite may expand to (aliases included); bounds "billion laughs".
#: Suites larger than this belong in JSONL, which is parsed line by line.
MAX_SUITE_NODES = 200_000

KeyPath = tuple[str | int, ...]
Locator = Callable[[KeyPath], Location]


def _data_path(data: Any, loc: Sequence[str | int]) -> KeyPath:
    """``loc`` as a key path into ``data`` (pydantic's ``loc`` indexes it directly)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, Mapping):
            current = current.get(part) if isinstance(part, str) else None
        elif isinstance(current, list) and isinstance(part, int):
            current = current[part] if 0 <= part < len(current) else None
        else:
            current = None
        path.append(part)
    return tuple(path)


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        return "unknown key"
    msg = error["msg"]
    return msg.removeprefix("Value error, ")


def suite_from_data(data: Any, *, source: str, locate: Locator | None = None) -> TaskSuite:
    """Validate parsed suite data.

    Args:
        data: the parsed document.
        source: file name for messages.
        locate: maps a key path to its position in the file (when known).

    Raises:
        SuiteError: the data does not describe a valid suite.
    """
    if not isinstance(data, Mapping):
        raise SuiteError("a suite must be a mapping with 'name' and 'cases'", Location(file=source))
    try:
        return TaskSuite.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, LocatedValueError):
            path = _data_path(data, [*error["loc"], *ctx_error.path])
            message = str(ctx_error).split(": ", 1)[-1]
        else:
            path = _data_path(data, list(error["loc"]))
            message = _message(error)
        where = locate(path) if locate else Location(file=source)
        location = Location(
            file=where.file or source,
            line=where.line,
            column=where.column,
            key=format_path(path) or None,
        )
        raise SuiteError(message, location) from None


def load_suite_jsonl(text: str, *, source: str, default_name: str = "suite") -> TaskSuite:
    """Parse JSONL suite text (header line optional; see module docs).

    Raises:
        SuiteError: bad JSON on a line, or an invalid suite.
    """
    header: dict[str, Any] = {}
    header_line: int | None = None
    cases: list[Any] = []
    case_lines: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SuiteError(
                f"invalid JSON: {exc.msg}", Location(file=source, line=number, column=exc.colno)
            ) from None
        if not isinstance(obj, dict):
            raise SuiteError("each line must be a JSON object", Location(file=source, line=number))
        if header_line is None and not cases and set(obj) == {"suite"}:
            if not isinstance(obj["suite"], dict):
                where = Location(file=source, line=number, key="suite")
                raise SuiteError("the header's 'suite' must be an object", where)
            header, header_line = obj["suite"], number
            continue
        cases.append(obj)
        case_lines.append(number)
    data: dict[str, Any] = {"name": default_name, **header, "cases": cases}

    def locate(path: KeyPath) -> Location:
        index = path[1] if len(path) >= 2 and path[0] == "cases" else None
        if isinstance(index, int) and index < len(cases):
            return Location(file=source, line=case_lines[index])
        return Location(file=source, line=header_line)

    return suite_from_data(data, source=source, locate=locate)


def load_suite_text(text: str, *, source: str = "<string>", fmt: str = "yaml") -> TaskSuite:
    """Parse suite text in ``fmt`` (``yaml`` or ``jsonl``).

    Raises:
        SuiteError: unreadable or invalid suite.
    """
    if fmt == "jsonl":
        return load_suite_jsonl(text, source=source, default_name=Path(source).stem or "suite")
    if fmt != "yaml":
        where = Location(file=source)
        raise SuiteError(f"unknown suite format {fmt!r}; expected yaml or jsonl", where)
    data, source_map = parse_yaml(
        text, source, max_nodes=MAX_SUITE_NODES, max_chars=MAX_SUITE_BYTES, error=SuiteError
    )
    return suite_from_data(data, source=source, locate=source_map.location)


def load_suite(path: str | Path) -> TaskSuite:
    """Load a suite file; the format follows the extension (``.jsonl``, else YAML).

    Raises:
        SuiteError: the file cannot be read or is not a valid suite (file, line, key).
    """
    path = Path(path)
    text = read_text(path, max_bytes=MAX_SUITE_BYTES, error=SuiteError)
    fmt = "jsonl" if path.suffix.lower() == ".jsonl" else "yaml"
    return load_suite_text(text, source=str(path), fmt=fmt)


def resolve_suite(name: str, suites_dir: str | Path) -> Path:
    """The file of the suite called ``name`` in ``suites_dir``.

    ``name`` is a file name (with or without ``.yaml``/``.yml``/``.jsonl``)
    that must stay inside ``suites_dir``.

    Raises:
        SuiteError: no such suite, or the name escapes the directory.
    """
    base = Path(suites_dir).resolve()
    exts = (".yaml", ".yml", ".jsonl")
    candidates = [name] if Path(name).suffix in exts else [f"{name}{ext}" for ext in exts]
    for candidate in candidates:
        path = (base / candidate).resolve()
        if not path.is_relative_to(base):
            raise SuiteError(f"suite {name!r} is outside {base}", Location(key="suite"))
        if path.is_file():
            return path
    raise SuiteError(f"no suite named {name!r} in {base}", Location(key="suite"))
