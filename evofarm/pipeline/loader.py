"""Reading and writing pipeline files.

Reading accepts pipeline_ex's ``workflow:`` form and the META-PIPELINE short
form (the pipeline's keys at the top level, prompts as plain strings); both
give the same :class:`~evofarm.pipeline.schema.Pipeline`. Writing always
produces canonical pipeline_ex YAML: a ``workflow:`` mapping, prompts as lists
of parts, keys in schema order, defaults omitted. So load -> dump -> load
gives an equal pipeline, and :func:`pipeline_to_data` is the canonical
JSON-compatible form genome ids hash (``json.dumps(data, sort_keys=True)``).

Every problem is a :class:`~evofarm.errors.PipelineLoadError` (YAML, caps,
schema) or :class:`~evofarm.errors.PipelineValidationError` (unknown step
type, dangling reference, limits) whose :class:`~evofarm.errors.Location`
has the file, line, column and key path (relative to the pipeline mapping,
e.g. ``steps[2].prompt[0].content``). ``load_*`` raise the first problem;
:func:`check_pipeline_file` / :func:`check_pipeline_text` return them all.
Nothing else is ever raised for bad input.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from evofarm.errors import PipelineLoadError, UserInputError
from evofarm.pipeline.compat import CompatWarning, compat_warnings
from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.schema_errors import schema_problems
from evofarm.pipeline.validate import PipelineLimits, find_problems
from evofarm.pipeline.yaml_source import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    SourceMap,
    parse_yaml,
    read_text,
)

MAX_PIPELINE_BYTES = DEFAULT_MAX_BYTES
MAX_DATA_DEPTH = DEFAULT_MAX_DEPTH


@dataclass
class LoadReport:
    """Everything known after reading one pipeline.

    ``pipeline`` is None when the schema did not match; ``problems`` lists
    every problem found (empty means valid); ``source_map`` has positions
    relative to the pipeline mapping; ``warnings`` has one entry per
    compatibility-only key the pipeline sets (they never make it invalid).
    """

    pipeline: Pipeline | None
    problems: list[UserInputError] = field(default_factory=list)
    source_map: SourceMap | None = None
    warnings: list[CompatWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the pipeline loaded with no problem at all."""
        return self.pipeline is not None and not self.problems

    def raise_first(self) -> Pipeline:
        """The pipeline, or raise the first problem."""
        if self.problems:
            raise self.problems[0]
        if self.pipeline is None:  # pragma: no cover - a report without problems has one
            raise PipelineLoadError("pipeline could not be read")
        return self.pipeline


def _rooted(source_map: SourceMap, prefix: tuple[str, ...]) -> SourceMap:
    """The positions under ``prefix``, with ``prefix`` removed from their paths."""
    size = len(prefix)
    rooted = SourceMap(source_map.file)
    rooted.values = {p[size:]: m for p, m in source_map.values.items() if p[:size] == prefix}
    rooted.keys = {p[size:]: m for p, m in source_map.keys.items() if p[:size] == prefix}
    return rooted


def _unwrap(data: Any, source_map: SourceMap) -> tuple[Any, SourceMap, list[UserInputError]]:
    """Find the pipeline mapping: ``workflow:``'s value, or the document itself."""
    if data is None:
        return None, source_map, [PipelineLoadError("the file is empty", source_map.location(()))]
    if not isinstance(data, dict):
        return (
            None,
            source_map,
            [
                PipelineLoadError(
                    "a pipeline must be a mapping with a 'workflow:' key "
                    "(or the short form's 'name:' and 'steps:')",
                    source_map.location(()),
                )
            ],
        )
    if "workflow" not in data:
        return data, source_map, []
    problems: list[UserInputError] = [
        PipelineLoadError(
            f"unknown top-level key {key!r} (a pipeline_ex file has only 'workflow:')",
            source_map.location((key,), prefer_key=True),
        )
        for key in data
        if key != "workflow"
    ]
    inner = data["workflow"]
    if not isinstance(inner, dict):
        problems.append(
            PipelineLoadError(
                "'workflow' must be a mapping of the pipeline's keys",
                source_map.location(("workflow",)),
            )
        )
        return None, source_map, problems
    return inner, _rooted(source_map, ("workflow",)), problems


def _check_data(
    data: Any,
    source_map: SourceMap,
    *,
    validate: bool,
    limits: PipelineLimits | None,
) -> LoadReport:
    inner, rooted, problems = _unwrap(data, source_map)
    if inner is None:
        return LoadReport(None, problems, rooted)
    try:
        pipeline = Pipeline.model_validate(inner)
    except ValidationError as exc:
        problems.extend(schema_problems(exc, inner, rooted))
        return LoadReport(None, problems, rooted)
    except RecursionError:
        problems.append(PipelineLoadError("pipeline is nested too deeply", rooted.location(())))
        return LoadReport(None, problems, rooted)
    if validate:
        problems.extend(find_problems(pipeline, rooted, limits=limits))
    return LoadReport(pipeline, problems, rooted, compat_warnings(pipeline, rooted))


def check_pipeline_text(
    text: str,
    source: str = "<string>",
    *,
    validate: bool = True,
    limits: PipelineLimits | None = None,
) -> LoadReport:
    """Read pipeline YAML and report every problem instead of raising.

    Args:
        text: the YAML text.
        source: file name used in locations.
        validate: also run :func:`~evofarm.pipeline.validate.find_problems`
            (references, duplicate names, limits).
        limits: limits for validation (defaults when None).
    """
    try:
        data, source_map = parse_yaml(text, source, max_chars=MAX_PIPELINE_BYTES)
    except UserInputError as exc:
        return LoadReport(None, [exc], None)
    return _check_data(data, source_map, validate=validate, limits=limits)


def check_pipeline_file(
    path: str | os.PathLike[str],
    *,
    validate: bool = True,
    limits: PipelineLimits | None = None,
) -> LoadReport:
    """Like :func:`check_pipeline_text` for a file (size-capped before reading)."""
    try:
        text = read_text(path, max_bytes=MAX_PIPELINE_BYTES)
    except UserInputError as exc:
        return LoadReport(None, [exc], None)
    return check_pipeline_text(text, str(path), validate=validate, limits=limits)


def load_pipeline(
    path: str | os.PathLike[str],
    *,
    validate: bool = True,
    limits: PipelineLimits | None = None,
) -> Pipeline:
    """Load and validate a pipeline file.

    Raises:
        PipelineLoadError: unreadable file, YAML error, caps, schema mismatch.
        PipelineValidationError: unknown step type, dangling reference,
            duplicate name, limits.
    """
    return check_pipeline_file(path, validate=validate, limits=limits).raise_first()


def load_pipeline_text(
    text: str,
    source: str = "<string>",
    *,
    validate: bool = True,
    limits: PipelineLimits | None = None,
) -> Pipeline:
    """Load and validate pipeline YAML text (errors as for :func:`load_pipeline`)."""
    return check_pipeline_text(text, source, validate=validate, limits=limits).raise_first()


def pipeline_from_data(
    obj: Any,
    source: str = "<data>",
    *,
    validate: bool = True,
    limits: PipelineLimits | None = None,
) -> Pipeline:
    """Build a pipeline from already-parsed data (either form, e.g. from the store).

    Locations carry ``source`` and the key path, but no line numbers. The
    data must be JSON-compatible (mappings with string keys, lists, strings,
    integers, finite floats, booleans, None) so the canonical form, and so a
    genome's hash, is well defined.

    Raises:
        PipelineLoadError, PipelineValidationError: as for :func:`load_pipeline`.
    """
    source_map = SourceMap(source)
    problem = _non_json(obj, ())
    if problem is not None:
        message, path = problem
        raise PipelineLoadError(message, source_map.location(path))
    return _check_data(obj, source_map, validate=validate, limits=limits).raise_first()


def _non_json(value: Any, path: tuple[str | int, ...]) -> tuple[str, tuple[str | int, ...]] | None:
    """The first value that is not plain JSON data, as (message, path), or None."""
    if len(path) > MAX_DATA_DEPTH:
        return f"data nested deeper than {MAX_DATA_DEPTH} levels", path
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else ("numbers must be finite", path)
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _non_json(item, (*path, index))
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"mapping key {key!r} is not a string", path
            found = _non_json(item, (*path, key))
            if found is not None:
                return found
        return None
    return f"value of type {type(value).__name__} is not JSON data", path


def pipeline_to_data(pipeline: Pipeline) -> dict[str, Any]:
    """The canonical, JSON-compatible content of ``workflow:``.

    Keys follow the schema order (free-form mappings keep their own order),
    values equal to their defaults are omitted, and aliases are used
    (``schema``, ``as``), so two equal pipelines give equal data.
    """
    return pipeline.model_dump(mode="json", by_alias=True, exclude_defaults=True)


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings as literal blocks, never anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# Line breaks YAML normalises when read back: only double quotes keep them exact.
_FRAGILE_BREAKS = frozenset("\r\x85\u2028\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style: str | None = None
    if _FRAGILE_BREAKS.intersection(value):
        style = '"'
    elif "\n" in value:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_pipeline(pipeline: Pipeline) -> str:
    """Canonical pipeline_ex YAML for ``pipeline`` (``workflow:`` form)."""
    return dump_document({"workflow": pipeline_to_data(pipeline)})


def dump_document(data: dict[str, Any]) -> str:
    """YAML for a JSON-compatible document, in the canonical dump's style."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
        indent=2,
    )


__all__ = [
    "MAX_PIPELINE_BYTES",
    "LoadReport",
    "check_pipeline_file",
    "check_pipeline_text",
    "dump_document",
    "dump_pipeline",
    "load_pipeline",
    "load_pipeline_text",
    "pipeline_from_data",
    "pipeline_to_data",
]
