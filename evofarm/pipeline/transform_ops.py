"""The fixed library of pure operations behind evofarm's ``transform`` step.

A ``transform`` step runs an ordered list of operations over one value, so a
pipeline can clean up LLM output (or be evolved) without any LLM call. Each
operation is a small pydantic model discriminated on ``op`` (in
:mod:`evofarm.pipeline.transform_models`) plus a pure
function; :func:`apply_operations` folds a value through a list of them.

Text operations (lower, upper, title, strip, split, regex_*, replace, pad,
prefix, suffix, format, json_parse, strip_code_fences) take text; numbers and
booleans are first written as text (``3`` -> ``"3"``, ``true``), anything else
is an error. ``slice`` and ``concat`` also work on lists; ``json_path`` walks
mappings and lists; ``default`` takes anything.

Safety: regexes are checked and compiled when the pipeline is loaded (see
:mod:`evofarm.pipeline.regex_guard` for the rules), regex operations refuse
inputs over ``MAX_REGEX_INPUT_CHARS``, and no operation produces text longer
than :data:`MAX_TEXT_CHARS`. Failures raise :class:`TransformError`, an
:class:`~evofarm.errors.StepFailed`, naming the operation; the executor adds
the step name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import regex
from pydantic import BaseModel

from evofarm.pipeline.regex_guard import MAX_REGEX_INPUT_CHARS, RegexTimeout
from evofarm.pipeline.transform_models import (
    FORMAT_FIELD,
    MAX_JSON_CHARS,
    MAX_TEXT_CHARS,
    ConcatOp,
    DefaultOp,
    FormatOp,
    JsonParseOp,
    JsonPathOp,
    LowerOp,
    PadOp,
    PrefixOp,
    RegexExtractOp,
    RegexReplaceOp,
    ReplaceOp,
    SliceOp,
    SplitOp,
    StripCodeFencesOp,
    StripOp,
    SuffixOp,
    TitleOp,
    TransformError,
    TransformOp,
    UpperOp,
    parse_json_path,
)

__all__ = [
    "MAX_JSON_CHARS",
    "MAX_TEXT_CHARS",
    "OP_NAMES",
    "OP_TYPES",
    "LowerOp",
    "TransformError",
    "TransformOp",
    "apply_operation",
    "apply_operations",
    "parse_json_path",
]


def _text(value: Any, op: str) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        try:
            text = str(value)
        except ValueError:  # an int past Python's int->str digit limit
            raise TransformError(f"{op}: number too large to write as text") from None
    else:
        raise TransformError(f"{op}: expects text, got {type(value).__name__}")
    return text


def _checked(text: str, op: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise TransformError(f"{op}: result longer than {MAX_TEXT_CHARS} characters")
    return text


def _regex_input(value: Any, op: str) -> str:
    text = _text(value, op)
    if len(text) > MAX_REGEX_INPUT_CHARS:
        raise TransformError(
            f"{op}: input of {len(text)} characters is over the regex limit of "
            f"{MAX_REGEX_INPUT_CHARS}"
        )
    return text


def _lower(value: Any, op: LowerOp) -> Any:
    return _text(value, op.op).lower()


def _upper(value: Any, op: UpperOp) -> Any:
    return _checked(_text(value, op.op).upper(), op.op)


def _title(value: Any, op: TitleOp) -> Any:
    return _text(value, op.op).title()


def _strip(value: Any, op: StripOp) -> Any:
    return _text(value, op.op).strip(op.chars)


def _split(value: Any, op: SplitOp) -> Any:
    parts = _text(value, op.op).split(op.separator, op.maxsplit)
    if op.index is None:
        return parts
    try:
        return parts[op.index]
    except IndexError:
        raise TransformError(f"split: index {op.index} out of range ({len(parts)} parts)") from None


def _regex_extract(value: Any, op: RegexExtractOp) -> Any:
    text = _regex_input(value, op.op)
    pattern = op.compiled()
    try:
        if op.all:
            return [match.group(op.group) for match in pattern.finditer(text)]
        match = pattern.search(text)
        return None if match is None else match.group(op.group)
    except IndexError:
        raise TransformError(f"regex_extract: no group {op.group!r} in pattern") from None
    except RegexTimeout as exc:
        raise TransformError(f"regex_extract: {exc.message}") from None


def _regex_replace(value: Any, op: RegexReplaceOp) -> Any:
    text = _regex_input(value, op.op)
    try:
        result = op.compiled().sub(op.replacement, text, count=op.count)
    except RegexTimeout as exc:
        raise TransformError(f"regex_replace: {exc.message}") from None
    except (regex.error, re.error, IndexError) as exc:
        raise TransformError(f"regex_replace: bad replacement: {exc}") from None
    return _checked(result, op.op)


def _replace(value: Any, op: ReplaceOp) -> Any:
    text = _text(value, op.op)
    # Bound the result before building it: each replacement may grow the text.
    growth = max(0, len(op.new) - len(op.old)) * text.count(op.old)
    if len(text) + growth > MAX_TEXT_CHARS:
        raise TransformError(f"replace: result longer than {MAX_TEXT_CHARS} characters")
    return text.replace(op.old, op.new, op.count or -1)


def _slice(value: Any, op: SliceOp) -> Any:
    if isinstance(value, list):
        return value[op.start : op.end]
    return _text(value, op.op)[op.start : op.end]


def _pad(value: Any, op: PadOp) -> Any:
    text = _text(value, op.op)
    if op.side == "left":
        return text.rjust(op.width, op.fill)
    if op.side == "right":
        return text.ljust(op.width, op.fill)
    return text.center(op.width, op.fill)


def _prefix(value: Any, op: PrefixOp) -> Any:
    return _checked(op.text + _text(value, op.op), op.op)


def _suffix(value: Any, op: SuffixOp) -> Any:
    return _checked(_text(value, op.op) + op.text, op.op)


def _concat(value: Any, op: ConcatOp) -> Any:
    items = [*value] if isinstance(value, list) else [value]
    items.extend(op.values)
    texts = ["" if item is None else _text(item, op.op) for item in items]
    return _checked(op.separator.join(texts), op.op)


def _format(value: Any, op: FormatOp) -> Any:
    pieces: list[str] = []
    total = 0
    for piece in _format_pieces(value, op.template):
        total += len(piece)
        if total > MAX_TEXT_CHARS:
            raise TransformError(f"format: result longer than {MAX_TEXT_CHARS} characters")
        pieces.append(piece)
    return "".join(pieces)


def _format_pieces(value: Any, template: str) -> list[str]:
    pieces: list[str] = []
    pos = 0
    for match in FORMAT_FIELD.finditer(template):
        pieces.append(template[pos : match.start()])
        token = match.group(0)
        if token in {"{{", "}}"}:
            pieces.append(token[0])
        else:
            name = match.group(1)
            if name in {"", "value"}:
                pieces.append(_text(value, "format"))
            elif isinstance(value, dict) and name in value:
                pieces.append(_text(value[name], "format"))
            else:
                raise TransformError(f"format: no key {name!r} in the value")
        pos = match.end()
    pieces.append(template[pos:])
    return pieces


def _json_parse(value: Any, op: JsonParseOp) -> Any:
    text = _text(value, op.op)
    if len(text) > MAX_JSON_CHARS:
        raise TransformError(f"json_parse: input longer than {MAX_JSON_CHARS} characters")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise TransformError(f"json_parse: not valid JSON: {exc}") from None


def _json_path(value: Any, op: JsonPathOp) -> Any:
    current = value
    for part in parse_json_path(op.path):
        if isinstance(part, int) and isinstance(current, list):
            if -len(current) <= part < len(current):
                current = current[part]
                continue
        elif isinstance(part, str) and isinstance(current, dict) and part in current:
            current = current[part]
            continue
        if op.optional:
            return None
        raise TransformError(f"json_path: {op.path!r} not found (stopped at {part!r})")
    return current


_FENCE = re.compile(r"```[^\n`]*\n(.*?)\n?```", re.DOTALL)


def _strip_code_fences(value: Any, op: StripCodeFencesOp) -> Any:
    text = _text(value, op.op)
    match = _FENCE.search(text)
    return text.strip() if match is None else match.group(1)


def _default(value: Any, op: DefaultOp) -> Any:
    empty = value is None or (isinstance(value, str | list | dict) and len(value) == 0)
    return op.value if empty else value


_FUNCTIONS: dict[type[BaseModel], Callable[[Any, Any], Any]] = {
    LowerOp: _lower,
    UpperOp: _upper,
    TitleOp: _title,
    StripOp: _strip,
    SplitOp: _split,
    RegexExtractOp: _regex_extract,
    RegexReplaceOp: _regex_replace,
    ReplaceOp: _replace,
    SliceOp: _slice,
    PadOp: _pad,
    PrefixOp: _prefix,
    SuffixOp: _suffix,
    ConcatOp: _concat,
    FormatOp: _format,
    JsonParseOp: _json_parse,
    JsonPathOp: _json_path,
    StripCodeFencesOp: _strip_code_fences,
    DefaultOp: _default,
}

OP_NAMES: tuple[str, ...] = tuple(
    str(cls.model_fields["op"].annotation.__args__[0])  # type: ignore[union-attr]
    for cls in _FUNCTIONS
)
"""Every operation name, in library order (for messages and mutation operators)."""

OP_TYPES: dict[str, type[BaseModel]] = dict(zip(OP_NAMES, _FUNCTIONS, strict=True))
"""Operation name -> its parameter model."""


def apply_operation(value: Any, op: BaseModel) -> Any:
    """Apply one operation model to ``value``.

    Raises:
        TransformError: the operation cannot be applied to this value.
    """
    function = _FUNCTIONS.get(type(op))
    if function is None:
        raise TransformError(f"not a transform operation: {type(op).__name__}")
    return function(value, op)


def apply_operations(value: Any, ops: list[Any]) -> Any:
    """Fold ``value`` through ``ops`` in order and return the result.

    Args:
        value: the input (typically a step's resolved ``input``).
        ops: operation models (members of :data:`TransformOp`).

    Raises:
        TransformError: an operation failed; the message says which (1-based
            position and name).
    """
    for position, op in enumerate(ops, start=1):
        try:
            value = apply_operation(value, op)
        except TransformError as exc:
            raise TransformError(f"operation {position} ({exc.message})") from None
    return value
