"""Reading user YAML safely, keeping where every key and value came from.

:func:`parse_yaml` turns text into plain JSON-compatible data (mappings with
string keys, lists, str, int, finite float, bool, None) plus a
:class:`SourceMap` from each data path to its line and column, so schema
errors can point at the exact place in the file.

Defences, all raising the caller's :class:`~evofarm.errors.UserInputError`
subclass (``PipelineLoadError`` by default) and never anything else:

- files over ``max_bytes`` are refused before they are read whole;
- nesting deeper than ``max_depth`` is refused from the event stream, before
  any node tree is built (so deep input cannot exhaust the stack);
- aliases are expanded while converting the node tree, counting every node
  produced; past ``max_nodes`` the file is refused, so a "billion laughs"
  document is stopped after a bounded amount of work and memory; an alias
  that contains itself is refused;
- only the YAML core types are accepted: no ``!!python``/custom tags, no
  binary, no sets; timestamps stay strings (pipeline_ex reads them as text);
  mapping keys must be strings and may not repeat; numbers must be finite.

Thread-safe: no shared mutable state.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evofarm.errors import Location, PipelineLoadError, UserInputError

DEFAULT_MAX_BYTES = 1_000_000
DEFAULT_MAX_NODES = 200_000
DEFAULT_MAX_DEPTH = 64

DataPath = tuple[str | int, ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


# libyaml's parser is ~10x faster when present; both compose the same node tree.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """Safe loader that leaves timestamps as text (pipeline_ex reads them as strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column."""

    line: int
    column: int


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def format_path(path: DataPath) -> str:
    """``("workflow", "steps", 2, "prompt")`` -> ``workflow.steps[2].prompt``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass
class SourceMap:
    """Where each data path of one parsed document is in its file.

    ``values`` has the position of every value (the document root is ``()``);
    ``keys`` the position of each mapping key, under the path of its value.
    """

    file: str
    values: dict[DataPath, Mark] = field(default_factory=dict)
    keys: dict[DataPath, Mark] = field(default_factory=dict)

    def _nearest(self, path: DataPath, prefer_key: bool) -> tuple[DataPath, Mark | None]:
        current = path
        while True:
            if prefer_key and current in self.keys:
                return current, self.keys[current]
            if current in self.values:
                return current, self.values[current]
            if current in self.keys:
                return current, self.keys[current]
            if not current:
                return path, None
            current = current[:-1]

    def mark_for(self, path: DataPath, *, prefer_key: bool = False) -> Mark | None:
        """The position of ``path``, or of its nearest ancestor that has one."""
        return self._nearest(path, prefer_key)[1]

    def location(self, path: DataPath, *, prefer_key: bool = False) -> Location:
        """A :class:`Location` for ``path``.

        When ``path`` is not in the file as written (e.g. ``prompt[0].content``
        of a short-form string prompt) the key and position are those of its
        nearest written ancestor; without any positions the key is ``path``.
        """
        found, mark = self._nearest(path, prefer_key)
        return Location(
            file=self.file,
            line=mark.line if mark else None,
            column=mark.column if mark else None,
            key=format_path(found) or None,
        )


def read_text(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    error: type[UserInputError] = PipelineLoadError,
) -> str:
    """Read a UTF-8 file of at most ``max_bytes`` bytes.

    Raises:
        error: missing or unreadable file, too large, or not UTF-8.
    """
    where = Location(file=str(path))
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise error("no such file", where) from None
    except IsADirectoryError:
        raise error("is a directory, not a file", where) from None
    except OSError as exc:
        raise error(f"cannot read file: {exc.strerror or exc}", where) from None
    if len(data) > max_bytes:
        raise error(f"file is larger than the {max_bytes}-byte limit", where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"file is not UTF-8 text (byte {exc.start})", where) from None


class _Builder:
    """Converts a composed node tree to plain data, recording positions."""

    def __init__(
        self,
        loader: _Loader,
        source_map: SourceMap,
        max_nodes: int,
        error: type[UserInputError],
    ) -> None:
        self.loader = loader
        self.map = source_map
        self.max_nodes = max_nodes
        self.error = error
        self.count = 0
        self.active: set[int] = set()

    def fail(self, message: str, node: yaml.Node, path: DataPath) -> UserInputError:
        mark = _mark(node)
        return self.error(
            message,
            Location(self.map.file, mark.line, mark.column, format_path(path) or None),
        )

    def check_size(self, root: yaml.Node) -> None:
        """Refuse a tree whose alias expansion exceeds ``max_nodes``, before building.

        Sizes are memoised per node, so this costs one visit per distinct node
        however far aliases would expand; an alias inside its own anchor is
        refused here too.
        """
        sizes: dict[int, int] = {}
        active: set[int] = set()

        def size(node: yaml.Node) -> int:
            known = sizes.get(id(node))
            if known is not None:
                return known
            if id(node) in active:
                raise self.fail("an alias refers to a node that contains it", node, ())
            active.add(id(node))
            total = 1
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    total += size(key_node) + size(value_node)
                    if total > self.max_nodes:
                        break
            elif isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    total += size(item)
                    if total > self.max_nodes:
                        break
            active.discard(id(node))
            if total > self.max_nodes:
                raise self.fail(
                    f"document expands to more than {self.max_nodes} nodes "
                    "(too large, or aliases expanding too far)",
                    node,
                    (),
                )
            sizes[id(node)] = total
            return total

        size(root)

    def build(self, node: yaml.Node, path: DataPath) -> Any:
        self.count += 1
        if self.count > self.max_nodes:
            raise self.fail(
                f"document expands to more than {self.max_nodes} nodes "
                "(too large, or aliases expanding too far)",
                node,
                path,
            )
        if id(node) in self.active:
            raise self.fail("an alias refers to a node that contains it", node, path)
        self.map.values.setdefault(path, _mark(node))
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ_TAG:
                    raise self.fail(f"unsupported YAML tag {node.tag}", node, path)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: yaml.Node, path: DataPath) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            raise self.fail(f"bad YAML value: {_first_line(exc)}", node, path) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail("numbers must be finite (no .inf or .nan)", node, path)
        if value is not None and not isinstance(value, str | int | float | bool):
            raise self.fail(
                f"unsupported YAML value of type {type(value).__name__} ({node.tag})",
                node,
                path,
            )
        return value

    def _key(self, node: yaml.Node, path: DataPath) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail("mapping keys must be plain strings", node, path)
        key = self._scalar(node, path)
        if not isinstance(key, str):
            raise self.fail(f"mapping key {node.value!r} must be a string (quote it)", node, path)
        return key

    def _mapping(self, node: yaml.MappingNode, path: DataPath) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            raise self.fail(f"unsupported YAML tag {node.tag}", node, path)
        result: dict[str, Any] = {}
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                # ``<<: *base`` / ``<<: [*a, *b]``: earlier sources win, own keys win last.
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                merged: dict[str, Any] = {}
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise self.fail("'<<' must merge mappings", source, path)
                    built = self.build(source, path)
                    for key, value in built.items():
                        merged.setdefault(key, value)
                for key, value in merged.items():
                    result.setdefault(key, value)
            else:
                own.append((key_node, value_node))
        seen: set[str] = set()
        for key_node, value_node in own:
            key = self._key(key_node, path)
            if key in seen:
                raise self.fail(f"duplicate key {key!r}", key_node, (*path, key))
            seen.add(key)
            child = (*path, key)
            self.map.keys[child] = _mark(key_node)
            self.map.values[child] = _mark(value_node)
            result[key] = self.build(value_node, child)
        return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_depth(text: str, max_depth: int, file: str, error: type[UserInputError]) -> None:
    """Refuse nesting deeper than ``max_depth`` using the (iterative) event stream."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > max_depth:
                mark = event.start_mark
                where = (
                    Location(file, mark.line + 1, mark.column + 1)
                    if mark is not None
                    else Location(file)
                )
                raise error(f"nesting deeper than {max_depth} levels", where)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def parse_yaml(
    text: str,
    source: str = "<string>",
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_chars: int = DEFAULT_MAX_BYTES,
    error: type[UserInputError] = PipelineLoadError,
) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and its :class:`SourceMap`.

    Args:
        text: the YAML text.
        source: the file name used in error locations.
        max_nodes: most nodes the document may expand to (aliases included).
        max_depth: deepest nesting allowed.
        max_chars: longest text accepted.
        error: the UserInputError subclass to raise (e.g. SuiteError).

    Returns:
        ``(data, source_map)``; an empty document gives ``None``.

    Raises:
        error: syntax errors, more than one document, caps exceeded,
            unsupported tags or keys (each with file, line and column).
    """
    source_map = SourceMap(source)
    if len(text) > max_chars:
        raise error(f"text is longer than the {max_chars}-character limit", Location(source))
    try:
        _check_depth(text, max_depth, source, error)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, source_map
            builder = _Builder(loader, source_map, max_nodes, error)
            builder.check_size(node)
            return builder.build(node, ()), source_map
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        location = (
            Location(source, mark.line + 1, mark.column + 1)
            if mark is not None
            else Location(source)
        )
        raise error(f"YAML syntax error: {problem}", location) from None
    except yaml.YAMLError as exc:
        raise error(f"YAML syntax error: {_first_line(exc)}", Location(source)) from None
    except RecursionError:
        raise error("document is nested too deeply", Location(source)) from None
