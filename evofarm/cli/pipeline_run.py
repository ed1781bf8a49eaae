"""``evofarm pipeline run``: run one pipeline file and show its trace.

Contract (scripts rely on it)::

    evofarm pipeline run FILE [--input k=v]... [--inputs-file F]
                              [--provider NAME] [--json] [--suites-dir D]
                              [--base-dir D] [--allow-dir D]...

- ``--provider``: any registered provider (``mock``, ``replay``, ``anthropic``,
  ``gemini``, a plugin's); the names come from the provider registry.

- ``--base-dir D``: relative ``file`` prompt parts, batch task files and nested
  ``pipeline_file`` paths resolve against D (default: the working directory) and
  reads are confined to D, the workspace and every ``--allow-dir``; a ``../``
  path therefore needs ``--allow-dir`` naming the directory it reaches. Campaigns
  never get extra directories (their allow-list stays strict).
- Keys accepted only for pipeline_ex compatibility: one warning line each on
  stderr before the run (``--json`` output stays one object on stdout).
- ``--input k=v``: ``v`` is read as a YAML scalar (``3`` is a number, ``true`` a
  boolean, anything that is not a scalar stays text), except for an input the
  pipeline declares with a text default, which stays text (``2021-11-11`` is
  not a date then); it overrides the same key from ``--inputs-file`` (a YAML or
  JSON mapping). An input the pipeline does not declare gets a warning on stderr.
- Human output ends with the run's final output, in full.
- The workspace: ``--workspace``, else the pipeline's ``workspace_dir``, else
  ``./workspace`` when a step may write files (``file_ops``, ``output_to_file``,
  LLM steps); otherwise a temporary directory, removed after the run.
- ``--json`` prints exactly one JSON object: ``{"pipeline", "status", "error",
  "error_step", "error_type", "limit", "steps": {NAME: {"result", "status",
  "skipped", ...}}, "usage": {...}, "output"}``.
- Exit status: 0 when the run completed, 1 when it failed (the trace is still
  printed), 2 for bad input (file, options), 1 for other errors; never a
  traceback.

The runtime is built by :func:`build_runtime` so later options (a sandbox, limits)
extend one place.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from evofarm.cli.output import EXIT_FAILURE, friendly_errors
from evofarm.errors import Location, UserInputError
from evofarm.fitness.pipeline_executor_step import DEFAULT_SUITES_DIR
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import check_pipeline_file
from evofarm.pipeline.runtime import Runtime
from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.trace import RunTrace
from evofarm.providers.registry import ProviderSet, provider_names

_MAX_INPUTS_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class RunOptions:
    """The command's options that shape the runtime."""

    provider: str = "mock"
    workspace: Path | None = None
    base_dir: Path | None = None
    strict: bool = False
    suites_dir: Path | None = None
    allow_dirs: tuple[Path, ...] = ()


def parse_input(item: str) -> tuple[str, Any]:
    """``k=v`` -> ``(k, v read as a YAML scalar)``.

    Raises:
        UserInputError: no ``=`` or an empty key.
    """
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise UserInputError(f"--input {item!r}: expected KEY=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict | list) or (value is None and raw.strip() not in ("null", "~")):
        value = raw
    return key.strip(), value


def typed_inputs(items: list[str], declared: dict[str, Any] | None) -> dict[str, Any]:
    """The ``--input`` values, text kept as text for inputs declared with a text default."""
    values: dict[str, Any] = {}
    for item in items:
        key, value = parse_input(item)
        if isinstance((declared or {}).get(key), str):
            value = item.partition("=")[2]
        values[key] = value
    return values


def undeclared(values: dict[str, Any], declared: dict[str, Any] | None) -> list[str]:
    """Input names the pipeline does not declare (none when it declares no inputs at all)."""
    if not declared:
        return []
    return sorted(k for k in values if k not in declared)


def writes_files(pipeline: Pipeline) -> bool:
    """Whether a step may write into the workspace (so a run needs a real one)."""
    from evofarm.pipeline.loader import pipeline_to_data  # noqa: PLC0415
    from evofarm.pipeline.structure import calls_llm, iter_steps  # noqa: PLC0415

    data = pipeline_to_data(pipeline)
    return any(
        step.get("type") == "file_ops"
        or step.get("output_to_file")
        or calls_llm(str(step.get("type")))
        for step in iter_steps(data.get("steps", []))
    )


def read_inputs_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML/JSON inputs file.

    Raises:
        UserInputError: unreadable, too large, not YAML or not a mapping.
    """
    try:
        size = path.stat().st_size
        if size > _MAX_INPUTS_FILE_BYTES:
            raise UserInputError(f"{size} bytes; the cap is {_MAX_INPUTS_FILE_BYTES}", _loc(path))
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserInputError(f"cannot read inputs file: {exc.strerror}", _loc(path)) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserInputError(f"not valid YAML/JSON: {exc}", _loc(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserInputError("expected a mapping of input names to values", _loc(path))
    return {str(k): v for k, v in data.items()}


def _allowed_dir(path: Path) -> Path:
    """An ``--allow-dir`` value: an existing directory.

    Raises:
        UserInputError: it is not a directory.
    """
    if not path.is_dir():
        raise UserInputError(f"--allow-dir {str(path)!r}: not a directory")
    return path


def _loc(path: Path) -> Location:
    return Location(file=str(path))


def build_runtime(pipeline: Pipeline, options: RunOptions) -> Runtime:
    """The runtime a CLI run uses (providers, directories, the python runner)."""
    from evofarm.sandbox.parent.python_runner import python_runner_for_here  # noqa: PLC0415

    workspace = options.workspace or Path(pipeline.workspace_dir or "workspace")
    return Runtime(
        providers=ProviderSet.for_provider(options.provider),
        strict=options.strict,
        workspace=workspace,
        base_dir=options.base_dir or Path.cwd(),
        python_runner=python_runner_for_here(),
        suites_dir=options.suites_dir,
        read_roots=tuple(d.resolve() for d in options.allow_dirs),
    )


def trace_json(trace: RunTrace) -> dict[str, Any]:
    """The ``--json`` object."""
    data = trace.model_dump(mode="json")
    return {
        "pipeline": data["pipeline"],
        "status": data["status"],
        "error": data["error"],
        "error_step": data["error_step"],
        "error_type": data["error_type"],
        "limit": data["limit"],
        "steps": data["steps"],
        "usage": data["usage"],
        "output": data["output"],
    }


def _short(value: Any, width: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def print_human(trace: RunTrace) -> None:
    """A table of the steps, the totals and the outcome (rich)."""
    from rich.console import Console  # noqa: PLC0415 - only for human output
    from rich.table import Table  # noqa: PLC0415

    console = Console(highlight=False)
    table = Table(title=f"pipeline {trace.pipeline}")
    for column in ("step", "type", "status", "ms", "tokens in/out", "cost $"):
        table.add_column(column, no_wrap=True)
    table.add_column("result", overflow="ellipsis", max_width=60)
    for step in trace.steps.values():
        status = "skipped" if step.skipped else step.status
        shown = step.skip_reason if step.skipped else _short(step.result)
        table.add_row(
            step.name,
            step.type,
            status,
            f"{step.duration_ms:.0f}",
            f"{step.input_tokens}/{step.output_tokens}",
            f"{step.cost_usd:.4f}",
            shown or "",
            style="red" if step.status == "failed" else None,
        )
    console.print(table)
    usage = trace.usage
    console.print(
        f"{trace.status}: {usage.llm_calls} LLM calls, {usage.input_tokens} tokens in, "
        f"{usage.output_tokens} out, ${usage.cost_usd:.4f}, {usage.duration_ms:.0f} ms",
        markup=False,
    )
    if trace.error:
        console.print(f"error: {trace.error}", style="red", markup=False)
    if trace.status == "completed":
        output = trace.output
        text = (
            output
            if isinstance(output, str)
            else json.dumps(output, ensure_ascii=False, default=str, indent=2)
        )
        console.print("output:", markup=False)
        console.print(text, markup=False, highlight=False, soft_wrap=True)


@friendly_errors
def run(
    file: Annotated[Path, typer.Argument(help="The pipeline YAML file.", show_default=False)],
    *,
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="An input as KEY=VALUE (VALUE read as YAML scalar)."),
    ] = None,
    inputs_file: Annotated[
        Path | None, typer.Option("--inputs-file", help="A YAML/JSON mapping of inputs.")
    ] = None,
    provider: Annotated[
        str, typer.Option("--provider", help="LLM provider (a registered name: mock, replay, ...).")
    ] = "mock",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", help="Directory the run may write to (default ./workspace)."),
    ] = None,
    base_dir: Annotated[
        Path | None,
        typer.Option(
            "--base-dir",
            help="Where relative file prompt parts / pipeline_file paths resolve and may be "
            "read (default: cwd).",
        ),
    ] = None,
    allow_dirs: Annotated[
        list[Path] | None,
        typer.Option(
            "--allow-dir",
            help="A further directory file reads may reach, e.g. for '../' paths (repeatable).",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on unresolved template references.")
    ] = False,
    suites_dir: Annotated[
        Path,
        typer.Option("--suites-dir", help="Where pipeline_executor steps find suites by name."),
    ] = DEFAULT_SUITES_DIR,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Run in the sandbox: no network, limits, private workspace (see docs/sandbox.md).",
        ),
    ] = False,
) -> None:
    """Run a pipeline and print its trace (exit 1 if the run failed)."""
    choices = provider_names()
    if provider not in choices:
        raise UserInputError(f"--provider {provider!r}: expected one of {', '.join(choices)}")
    values: dict[str, Any] = read_inputs_file(inputs_file) if inputs_file else {}
    report = check_pipeline_file(file)
    for warning in report.warnings:  # one per compatibility-only key, on stderr
        typer.echo(str(warning), err=True)
    pipeline = report.raise_first()
    allowed = tuple(_allowed_dir(d) for d in allow_dirs or [])
    values.update(typed_inputs(inputs or [], pipeline.inputs))
    for name in undeclared(values, pipeline.inputs):
        declared = ", ".join(sorted(pipeline.inputs or {}))
        typer.echo(
            f"warning: input {name!r} is not declared by the pipeline (declared: {declared})",
            err=True,
        )
    if sandbox:
        if allowed:
            raise UserInputError("--allow-dir is not supported with --sandbox (use --base-dir)")
        from evofarm.sandbox.parent.cli_run import run_file_sandboxed  # noqa: PLC0415

        completed = run_file_sandboxed(
            pipeline,
            values,
            source=file,
            provider=provider,
            base_dir=base_dir,
            strict=strict,
            as_json=as_json,
            print_trace=print_human,
        )
        if not completed:
            raise typer.Exit(EXIT_FAILURE)
        return
    with contextlib.ExitStack() as stack:
        if workspace is None and not pipeline.workspace_dir and not writes_files(pipeline):
            workspace = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="evofarm-run-"))
            )
        options = RunOptions(
            provider=provider,
            workspace=workspace,
            base_dir=base_dir,
            strict=strict,
            suites_dir=suites_dir,
            allow_dirs=allowed,
        )
        trace = run_pipeline(pipeline, values, runtime=build_runtime(pipeline, options))
    if as_json:
        typer.echo(json.dumps(trace_json(trace), ensure_ascii=False, default=str))
    else:
        print_human(trace)
    if trace.status != "completed":
        raise typer.Exit(EXIT_FAILURE)
