"""Prompt parts and the shared base models of the pipeline schema.

pipeline_ex writes a prompt as a list of parts (``static``, ``file``,
``previous_response``, ``session_context``, ``claude_continue``). The
META-PIPELINE short form writes a prompt as one plain string; :data:`Prompt`
turns that into a single :class:`StaticPart`, so both spellings load into the
same model and are always written back as a list of parts.
"""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PositiveInt, field_validator


class StrictModel(BaseModel):
    """Base of every schema model: unknown keys are errors; instances are frozen.

    Change a model with ``model_copy(update=...)`` (no re-validation) or by
    rebuilding it from data.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class OptionBag(BaseModel):
    """A free-form option mapping that pipeline_ex checks only loosely.

    The options evofarm knows are typed (a wrong type is an error); any other
    key is kept as written, as pipeline_ex does.
    """

    model_config = ConfigDict(extra="allow", frozen=True)


class _Part(StrictModel):
    # Redeclared as a Literal by each part; first key when written out.
    type: str


class StaticPart(_Part):
    """Inline text (templates allowed)."""

    type: Literal["static"]
    content: str


class FilePart(_Part):
    """The content of a file, relative to the pipeline's base directory."""

    type: Literal["file"]
    path: str = Field(min_length=1)
    variables: dict[str, Any] | None = None
    inject_as: str | None = None
    encoding: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str | None) -> str | None:
        if encoding is None or encoding == "base64":
            return encoding
        try:
            info = codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
        if not info._is_text_encoding:  # e.g. 'rot13' / 'zlib': not bytes -> text
            raise ValueError(f"{encoding!r} is not a text encoding (or use 'base64')")
        return encoding


class PreviousResponsePart(_Part):
    """The result of an earlier step, optionally narrowed by a dot path."""

    type: Literal["previous_response"]
    step: str = Field(min_length=1)
    extract: str | None = None
    extract_with: Literal["content_extractor"] | None = None
    summary: bool | None = None
    max_length: PositiveInt | None = None
    strict: bool | None = None


class SessionContextPart(_Part):
    """The last messages of a ``claude_session`` conversation."""

    type: Literal["session_context"]
    session_id: str = Field(min_length=1)
    include_last_n: PositiveInt | None = None


class ClaudeContinuePart(_Part):
    """Continue a Claude session, optionally with a new prompt."""

    type: Literal["claude_continue"]
    session_id: str = Field(min_length=1)
    new_prompt: str | None = None


PromptPart = Annotated[
    StaticPart | FilePart | PreviousResponsePart | SessionContextPart | ClaudeContinuePart,
    Field(discriminator="type"),
]

PROMPT_PART_TYPES: tuple[str, ...] = (
    "static",
    "file",
    "previous_response",
    "session_context",
    "claude_continue",
)


def _prompt_from_string(value: Any) -> Any:
    # The META-PIPELINE short form: ``prompt: "text"`` is one static part.
    if isinstance(value, str):
        return [{"type": "static", "content": value}]
    return value


Prompt = Annotated[list[PromptPart], BeforeValidator(_prompt_from_string)]
"""A prompt: a list of parts, or (short form) one string read as a static part."""


def prompt_text_size(parts: list[Any] | None) -> int:
    """Characters of inline text in a prompt (static contents and new prompts)."""
    total = 0
    for part in parts or []:
        if isinstance(part, StaticPart):
            total += len(part.content)
        elif isinstance(part, ClaudeContinuePart) and part.new_prompt:
            total += len(part.new_prompt)
    return total
