"""The operation models of evofarm's ``transform`` step (see
:mod:`evofarm.pipeline.transform_ops` for what each does and how they run).

Each operation is a frozen pydantic model discriminated on ``op``; regexes are
checked and compiled when the pipeline is loaded (:mod:`evofarm.pipeline.regex_guard`),
JSON paths are parsed then too. :class:`TransformError` is what applying one
raises.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from evofarm.errors import StepFailed
from evofarm.pipeline.regex_guard import GuardedPattern, compile_guarded

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

    def compiled(self) -> GuardedPattern:
        """The checked, compiled pattern (cached per process; operations time-limited)."""
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


FORMAT_FIELD = re.compile(r"\{\{|\}\}|\{(\w*)\}|[{}]")


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
        for match in FORMAT_FIELD.finditer(template):
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
