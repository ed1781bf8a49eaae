"""The fixed library of pure operations behind evofarm's ``transform`` step.

A ``transform`` step runs an ordered list of operations over one value, so a
pipeline can clean up LLM output (or be evolved) without any LLM call. Each
operation is a small pydantic model discriminated on ``op`` plus a pure
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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from evofarm.errors import StepFailed
from evofarm.pipeline.regex_guard import MAX_REGEX_INPUT_CHARS, compile_guarded

MAX_TEXT_CHARS = 1_000_000
MAX_PAD_WIDTH = 10_000
MAX_JSON_CHARS = 1_000_000

RegexFlags = Annotated[str, Field(pattern=r"^[imsx]*$", max_length=4)]


class TransformError(StepFailed):
    """A transform operation could not be applied to its input."""


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Redeclared as a Literal by each operation; declared here so ``op`` is
    # always the first key when an operation is written out.
    op: str


class LowerOp(_Op):
    """Lower-case the text."""

    op: Literal["lower"]


class UpperOp(_Op):
    """Upper-case the text."""

    op: Literal["upper"]


class TitleOp(_Op):
    """Title-case the text (``str.title``)."""

    op: Literal["title"]


class StripOp(_Op):
    """Strip ``chars`` (default: whitespace) from both ends."""

    op: Literal["strip"]
    chars: str | None = None


class SplitOp(_Op):
    """Split on ``separator`` (default: runs of whitespace).

    With ``index`` the result is that part (negative counts from the end; out
    of range is an error), otherwise the list of parts.
    """

    op: Literal["split"]
    separator: str | None = Field(default=None, min_length=1)
    index: int | None = None
    maxsplit: int = Field(default=-1, ge=-1)


class _RegexOp(_Op):
    # ``flags`` precedes ``pattern`` so the pattern's validator can see it.
    flags: RegexFlags = ""
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _pattern_is_safe(cls, pattern: str, info: ValidationInfo) -> str:
        # Compiling here rejects unsafe patterns at load time, with the key path.
        compile_guarded(pattern, str(info.data.get("flags", "")))
        return pattern

    def compiled(self) -> re.Pattern[str]:
        """The checked, compiled pattern (cached per process)."""
        return compile_guarded(self.pattern, self.flags)


class RegexExtractOp(_RegexOp):
    """Search for ``pattern``; give ``group`` (number or name) of the first match.

    With ``all: true`` give the list of that group over every match. No match
    gives ``null`` (chain a ``default`` operation to replace it).
    """

    op: Literal["regex_extract"]
    group: int | str = 0
    all: bool = False


class RegexReplaceOp(_RegexOp):
    """Replace matches of ``pattern`` with ``replacement`` (``\\1`` refers to groups).

    ``count`` 0 replaces every match.
    """

    op: Literal["regex_replace"]
    replacement: str
    count: int = Field(default=0, ge=0)


class ReplaceOp(_Op):
    """Replace literal ``old`` with ``new`` (``count`` 0: every occurrence)."""

    op: Literal["replace"]
    old: str = Field(min_length=1)
    new: str
    count: int = Field(default=0, ge=0)


class SliceOp(_Op):
    """``value[start:end]`` of text or a list (Python slice semantics)."""

    op: Literal["slice"]
    start: int | None = None
    end: int | None = None


class PadOp(_Op):
    """Pad text to ``width`` with ``fill`` on the ``side`` given."""

    op: Literal["pad"]
    width: int = Field(ge=0, le=MAX_PAD_WIDTH)
    fill: str = Field(default=" ", min_length=1, max_length=1)
    side: Literal["left", "right", "both"] = "left"


class PrefixOp(_Op):
    """Put ``text`` before the value."""

    op: Literal["prefix"]
    text: str


class SuffixOp(_Op):
    """Put ``text`` after the value."""

    op: Literal["suffix"]
    text: str


class ConcatOp(_Op):
    """Join the value (a list, or one value) and ``values`` with ``separator``."""

    op: Literal["concat"]
    values: list[Any] = Field(default_factory=list)
    separator: str = ""


_FORMAT_FIELD = re.compile(r"\{\{|\}\}|\{(\w*)\}|[{}]")


class FormatOp(_Op):
    """Fill ``template``: ``{}`` / ``{value}`` is the value, ``{key}`` a key of a mapping.

    ``{{`` and ``}}`` are literal braces. No attribute or index access is
    possible (unlike ``str.format``), so a template cannot reach into objects.
    """

    op: Literal["format"]
    template: str

    @field_validator("template")
    @classmethod
    def _braces_balanced(cls, template: str) -> str:
        for match in _FORMAT_FIELD.finditer(template):
            if match.group(0) in {"{", "}"}:
                raise ValueError(
                    f"unbalanced brace at offset {match.start()} in format template "
                    "(write {{ or }} for a literal brace)"
                )
        return template


class JsonParseOp(_Op):
    """Parse the text as JSON."""

    op: Literal["json_parse"]


class JsonPathOp(_Op):
    """Take the value at a dot path: ``a.b[0].c`` (a leading ``$.`` is allowed).

    A missing key or index is an error unless ``optional: true`` (then ``null``).
    """

    op: Literal["json_path"]
    path: str = Field(min_length=1)
    optional: bool = False

    @field_validator("path")
    @classmethod
    def _path_parses(cls, path: str) -> str:
        parse_json_path(path)
        return path


class StripCodeFencesOp(_Op):
    """Give the body of the first fenced code block (```lang ... ```), else the text."""

    op: Literal["strip_code_fences"]


class DefaultOp(_Op):
    """Replace ``null``, empty text or an empty list/mapping with ``value``."""

    op: Literal["default"]
    value: Any


TransformOp = Annotated[
    LowerOp
    | UpperOp
    | TitleOp
    | StripOp
    | SplitOp
    | RegexExtractOp
    | RegexReplaceOp
    | ReplaceOp
    | SliceOp
    | PadOp
    | PrefixOp
    | SuffixOp
    | ConcatOp
    | FormatOp
    | JsonParseOp
    | JsonPathOp
    | StripCodeFencesOp
    | DefaultOp,
    Field(discriminator="op"),
]

_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(-?\d+)\]|\[['\"]([^'\"\]]+)['\"]\]")


def parse_json_path(path: str) -> list[str | int]:
    """Split a dot path into keys and indexes.

    Raises:
        ValueError: the path is malformed.
    """
    text = path[2:] if path.startswith("$.") else path[1:] if path == "$" else path
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _PATH_TOKEN.match(text, pos)
        if match is None or (pos == 0 and text.startswith(".")):
            raise ValueError(f"malformed path {path!r} at offset {pos}")
        name, index, quoted = match.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
        else:
            parts.append(quoted)
        pos = match.end()
    return parts


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


def _regex_replace(value: Any, op: RegexReplaceOp) -> Any:
    text = _regex_input(value, op.op)
    try:
        result = op.compiled().sub(op.replacement, text, count=op.count)
    except (re.error, IndexError) as exc:
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
    for match in _FORMAT_FIELD.finditer(template):
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


_FUNCTIONS: dict[type[_Op], Callable[[Any, Any], Any]] = {
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
    function = _FUNCTIONS.get(type(op))  # type: ignore[arg-type]
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
