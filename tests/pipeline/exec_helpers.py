"""Helpers for executor tests: run YAML text with the mock provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.runtime import RunLimits, Runtime
from evofarm.pipeline.trace import RunTrace
from evofarm.providers.base import Provider
from evofarm.providers.registry import ProviderSet, SlotBinding


def make_runtime(
    tmp_path: Path,
    *,
    provider: Provider | None = None,
    limits: RunLimits | None = None,
    **changes: Any,
) -> Runtime:
    """A runtime on the mock provider (or ``provider`` for both slots) in ``tmp_path``."""
    if provider is None:
        providers = ProviderSet.for_provider("mock")
    else:
        providers = ProviderSet(
            {
                "claude": SlotBinding(provider.name, "sonnet"),
                "gemini": SlotBinding(provider.name, "gemini-2.5-flash"),
            },
            providers={provider.name: provider},
        )
    runtime = Runtime(
        providers=providers,
        limits=limits or RunLimits(),
        workspace=tmp_path / "workspace",
        base_dir=tmp_path,
    )
    return replace(runtime, **changes) if changes else runtime


def run_text(
    text: str,
    tmp_path: Path,
    inputs: Mapping[str, Any] | None = None,
    **runtime_options: Any,
) -> RunTrace:
    """Load ``text`` (validated) and run it."""
    pipeline = load_pipeline_text(text)
    return run_pipeline(pipeline, inputs, runtime=make_runtime(tmp_path, **runtime_options))
