"""``evofarm pipeline run FILE --sandbox``: the sandboxed branch of the command.

``--json`` prints one object: ``{"outcome", "status", "steps", "usage"}`` plus
``message``, ``isolation`` and ``output``. ``outcome`` is the sandbox's
(``ok``, ``timeout``, ``forbidden`` ...); ``status``, ``steps`` and ``usage``
come from the run's trace (``status`` is ``failed`` with empty steps when the
sandbox stopped the run before it produced a trace).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer

from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.trace import RunTrace
from evofarm.providers.registry import ProviderSet
from evofarm.sandbox.parent.pipeline import run_pipeline_sandboxed
from evofarm.sandbox.wire.outcome import Outcome, SandboxResult


def sandboxed_json(result: SandboxResult) -> dict[str, Any]:
    """The ``--json`` object of a sandboxed run."""
    trace = result.value if isinstance(result.value, dict) else {}
    return {
        "outcome": result.outcome.value,
        "status": trace.get("status", "failed"),
        "steps": trace.get("steps", {}),
        "usage": trace.get("usage", {}),
        "message": result.message,
        "isolation": result.isolation.model_dump(mode="json"),
        "output": trace.get("output"),
    }


def run_file_sandboxed(
    pipeline: Pipeline,
    inputs: Mapping[str, Any],
    *,
    source: Path,
    provider: str,
    base_dir: Path | None,
    strict: bool,
    as_json: bool,
    print_trace: Callable[[RunTrace], None],
) -> bool:
    """Run ``pipeline`` sandboxed, print the result; True when it completed.

    Raises:
        SandboxError, ProviderError: the sandbox or the provider failed.
    """
    providers = ProviderSet.for_provider(provider)
    result = run_pipeline_sandboxed(
        pipeline,
        inputs,
        llm=providers.as_provider(),
        strict=strict,
        base_dir=base_dir or Path.cwd(),
        settings=providers.settings,
        source=str(source),
    )
    shown = sandboxed_json(result)
    if as_json:
        typer.echo(json.dumps(shown, ensure_ascii=False, default=str))
    else:
        if isinstance(result.value, dict):
            print_trace(RunTrace.model_validate(result.value))
        line = f"sandbox: {result.outcome.value} ({result.isolation.mode} isolation)"
        typer.echo(line + (f": {result.message}" if result.message else ""))
        for reason in result.isolation.missing:
            typer.echo(f"  degraded: {reason}", err=True)
    return result.outcome is Outcome.OK and shown["status"] == "completed"
