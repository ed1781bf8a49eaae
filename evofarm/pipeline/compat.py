"""Warnings for pipeline_ex keys that load but have no effect in evofarm.

A schema model lists such keys in its ``compat_only`` class attribute (the
union over its bases counts, so a step class inherits ``options`` from
:class:`~evofarm.pipeline.schema_base.StepBase`). :func:`compat_warnings`
walks a loaded pipeline and gives **one warning per key** (the first place it
is set, in file order), however many steps set it: the channel that
``evofarm pipeline validate`` and ``pipeline run`` print, never a Python
``warnings.warn`` per step. docs/pipeline-format.md lists the same keys (a test
checks that every declared key is documented).

Pure and thread-safe: nothing is cached or mutated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from evofarm.errors import Location
from evofarm.pipeline.yaml_source import DataPath, SourceMap, format_path


@dataclass(frozen=True)
class CompatWarning:
    """One compatibility-only key a pipeline sets.

    Attributes:
        key: The key as the docs name it: ``hooks``, ``options``,
            ``claude_options.fallback_model``.
        location: Where it is first set (file, line, column, key path).
    """

    key: str
    location: Location

    @property
    def message(self) -> str:
        """The warning text without its location."""
        return (
            f"{self.key!r} is accepted for pipeline_ex compatibility and has no effect in evofarm"
        )

    def __str__(self) -> str:
        return f"{self.location}: warning: {self.message}"


def compat_keys(model: type[BaseModel]) -> frozenset[str]:
    """The compatibility-only keys of ``model`` (its own and its bases')."""
    keys: set[str] = set()
    for cls in model.__mro__:
        keys.update(vars(cls).get("compat_only", ()))
    return frozenset(keys)


def _label(path: DataPath, key: str, model: BaseModel) -> str:
    # Steps and the pipeline itself name the key alone; an option bag is named by
    # the key that holds it (``claude_options.hooks``), wherever it is.
    from evofarm.pipeline.schema import Pipeline  # noqa: PLC0415 - schema imports this layer
    from evofarm.pipeline.schema_base import StepBase  # noqa: PLC0415

    if isinstance(model, Pipeline | StepBase):
        return key
    owner = next((p for p in reversed(path) if isinstance(p, str)), None)
    return f"{owner}.{key}" if owner else key


def _walk(value: Any, path: DataPath) -> Iterator[tuple[DataPath, str]]:
    """(path of the key, label) of every compatibility-only key set under ``value``."""
    if isinstance(value, BaseModel):
        model = type(value)
        compat = compat_keys(model)
        for name, info in model.model_fields.items():
            if name not in value.model_fields_set:
                continue
            key = info.alias or name
            if name in compat or key in compat:
                yield (*path, key), _label(path, key, value)
                continue
            yield from _walk(getattr(value, name), (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, BaseModel | list | dict):
                yield from _walk(item, (*path, str(key)))


def compat_warnings(
    pipeline: BaseModel, source_map: SourceMap | None = None
) -> list[CompatWarning]:
    """One :class:`CompatWarning` per compatibility-only key ``pipeline`` sets.

    Args:
        pipeline: A loaded :class:`~evofarm.pipeline.schema.Pipeline`.
        source_map: Positions of the pipeline mapping's paths (for locations).

    Returns:
        Warnings in file order, the first occurrence of each key.
    """
    seen: dict[str, CompatWarning] = {}
    for path, label in _walk(pipeline, ()):
        if label in seen:
            continue
        if source_map is not None:
            location = source_map.location(path, prefer_key=True)
        else:
            location = Location(key=format_path(path))
        seen[label] = CompatWarning(label, location)
    return sorted(seen.values(), key=lambda w: (w.location.line or 0, w.location.column or 0))


__all__ = ["CompatWarning", "compat_keys", "compat_warnings"]
