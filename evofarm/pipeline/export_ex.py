"""Writing a pipeline as pipeline_ex runs it (``evofarm pipeline export --target pipeline_ex``).

evofarm's canonical dump is already pipeline_ex YAML (``workflow:`` form,
prompts as part lists); what pipeline_ex cannot run is what evofarm adds:

- **Refused** (a :class:`~evofarm.errors.PipelineExportError` naming every such
  step, the first one's location): step types pipeline_ex does not have, i.e.
  evofarm's ``transform`` and ``python``, the META-PIPELINE meta steps
  ``pipeline_executor`` and ``conditional_deploy``, and any plugin's type. None
  of them has a faithful pipeline_ex equivalent: their results (typed values,
  fitness records, deployments) cannot be reproduced by pipeline_ex's steps.
- **Translated** (each reported as a note): the top-level ``providers:`` mapping,
  which pipeline_ex does not know. A slot's ``model`` becomes the model of every
  step on that slot that sets none itself (``claude_options.model`` for the
  claude family, ``model`` for gemini steps), which is exactly what the mapping
  means. A slot's ``provider`` binding is dropped with a note: pipeline_ex runs
  claude steps on Claude and gemini steps on Gemini. Slots other than ``claude``
  and ``gemini`` are dropped likewise (no pipeline_ex step uses them).
- **Kept**: everything else, including keys evofarm accepts only for
  compatibility (pipeline_ex gives them their meaning) and the short form's
  plain-string prompts, which the canonical dump writes as ``static`` parts.

Pure: no files are read or written here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from evofarm.errors import Location, PipelineExportError
from evofarm.pipeline.loader import pipeline_to_data
from evofarm.pipeline.schema import Pipeline, PipelineStep
from evofarm.pipeline.schema_base import StepBase
from evofarm.pipeline.structure import body_keys, provider_slot
from evofarm.pipeline.yaml_source import DataPath, format_path

PIPELINE_EX_STEP_TYPES: Final = frozenset(
    {
        "claude",
        "claude_smart",
        "claude_session",
        "claude_extract",
        "claude_batch",
        "claude_robust",
        "parallel_claude",
        "gemini",
        "gemini_instructor",
        "set_variable",
        "for_loop",
        "while_loop",
        "break",
        "continue",
        "data_transform",
        "file_ops",
        "pipeline",
        "test_echo",
    }
)
"""Step types pipeline_ex (commit ff625ec) executes; ``test_echo`` only in its test env."""

TARGETS: Final = ("pipeline_ex",)
"""Export targets :func:`export_pipeline` knows."""


@dataclass(frozen=True)
class Exported:
    """An exported pipeline: ``data`` is the whole document (``{"workflow": ...}``)."""

    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _steps(steps: list[Any], path: DataPath) -> Iterator[tuple[StepBase, DataPath]]:
    """Every step with its path, loop bodies and inline nested pipelines included."""
    for index, step in enumerate(steps):
        step_path = (*path, index)
        yield step, step_path
        for key in body_keys(step.type):
            yield from _steps(list(getattr(step, key, None) or []), (*step_path, key))
        if isinstance(step, PipelineStep) and step.pipeline is not None:
            yield from _steps(list(step.pipeline.steps), (*step_path, "pipeline", "steps"))


def _refuse(pipeline: Pipeline, source: str | None) -> None:
    bad = [
        (s, p)
        for s, p in _steps(list(pipeline.steps), ("steps",))
        if s.type not in PIPELINE_EX_STEP_TYPES
    ]
    if not bad:
        return
    names = ", ".join(f"step {s.name!r} ({s.type})" for s, _ in bad)
    first = bad[0][1]
    raise PipelineExportError(
        f"cannot export to pipeline_ex: {names}: evofarm-only step type(s) with no "
        "pipeline_ex equivalent",
        Location(file=source, key=format_path((*first, "type"))),
    )


def _set_model(options_owner: dict[str, Any], model: str) -> bool:
    options = options_owner.setdefault("claude_options", {})
    if "model" in options:
        return False
    options["model"] = model
    return True


def _apply_models(
    steps: list[dict[str, Any]], models: dict[str, str], touched: dict[str, list[str]]
) -> None:
    for step in steps:
        kind = str(step.get("type"))
        slot = provider_slot(kind)
        model = models.get(slot) if slot else None
        if model is not None and slot is not None and "model" not in step:
            name = str(step.get("name"))
            if slot != "claude":
                step["model"] = model
                touched[slot].append(name)
            elif kind == "parallel_claude":
                # pipeline_ex reads each task's own claude_options.
                tasks = step.get("parallel_tasks") or []
                changed = [_set_model(task, model) for task in tasks]  # every task, no short cut
                if any(changed):
                    touched[slot].append(name)
            elif _set_model(step, model):
                touched[slot].append(name)
        for key in body_keys(kind):
            _apply_models(step.get(key) or [], models, touched)


def _translate_providers(data: dict[str, Any], notes: list[str], where: str = "") -> None:
    """Translate ``providers:`` of ``data`` and of its inline nested pipelines."""
    for step in _step_dicts(data.get("steps") or []):
        inner = step.get("pipeline")
        if step.get("type") == "pipeline" and isinstance(inner, dict):
            _translate_providers(inner, notes, f"{where}step {step.get('name')!r}: ")
    mapping = data.pop("providers", None)
    if not mapping:
        return
    models: dict[str, str] = {}
    for slot, binding in mapping.items():
        if slot not in ("claude", "gemini"):
            notes.append(f"{where}providers.{slot}: dropped (pipeline_ex has no '{slot}' slot)")
            continue
        if binding.get("model"):
            models[slot] = binding["model"]
        if binding.get("provider") != slot:
            notes.append(
                f"{where}providers.{slot}.provider {binding.get('provider')!r}: dropped "
                f"(pipeline_ex runs {slot} steps on {slot.capitalize()})"
            )
    touched: dict[str, list[str]] = {slot: [] for slot in models}
    _apply_models(data["steps"], models, touched)
    for slot, names in touched.items():
        key = "claude_options.model" if slot == "claude" else "model"
        shown = ", ".join(names) if names else "no step (all set their own)"
        notes.append(f"{where}providers.{slot}.model {models[slot]!r} -> {key} of {shown}")


def _step_dicts(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for step in steps:
        yield step
        for key in body_keys(str(step.get("type"))):
            yield from _step_dicts(step.get(key) or [])


def export_pipeline(
    pipeline: Pipeline, target: str = "pipeline_ex", *, source: str | None = None
) -> Exported:
    """The document pipeline_ex runs for ``pipeline``, and notes on what was translated.

    Args:
        pipeline: A loaded (valid) pipeline.
        target: The export target; only ``pipeline_ex``.
        source: The file name used in error locations.

    Raises:
        PipelineExportError: an unknown target, or steps pipeline_ex cannot express
            (every such step is named; the location is the first one's ``type``).
    """
    if target not in TARGETS:
        raise PipelineExportError(
            f"unknown export target {target!r}; known targets: {', '.join(TARGETS)}",
            Location(file=source),
        )
    _refuse(pipeline, source)
    data = copy.deepcopy(pipeline_to_data(pipeline))
    notes: list[str] = []
    _translate_providers(data, notes)
    return Exported({"workflow": data}, notes)


__all__ = ["PIPELINE_EX_STEP_TYPES", "TARGETS", "Exported", "export_pipeline"]
