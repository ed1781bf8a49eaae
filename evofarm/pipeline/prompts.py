"""Turning a step's prompt parts into the text sent to a model.

Parts are joined with newlines, as pipeline_ex's ``PromptBuilder`` does:

- ``static``: its content, templates resolved;
- ``file``: the file's text (path templated, relative to the runtime's
  ``base_dir``, confined to it and to the workspace). A missing file fails the
  step, as in pipeline_ex (``Failed to read file: PATH``). ``encoding`` is the
  file's text codec (default UTF-8), or ``base64`` for the base64 text of its
  bytes;
- ``previous_response``: an earlier step's result (text as is, data as pretty
  JSON), narrowed by ``extract`` (a dot path with the step-record fallbacks of
  :mod:`evofarm.pipeline.scope`). An ``extract`` that does not resolve fails the
  step in strict mode or with ``strict: true``; otherwise the whole result is
  used. ``max_length`` / ``summary`` shorten the text;
- ``session_context``: the last ``include_last_n`` turns of a ``claude_session``;
- ``claude_continue``: the session's transcript followed by ``new_prompt``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from evofarm.errors import StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.schema import (
    ClaudeContinuePart,
    FilePart,
    PreviousResponsePart,
    SessionContextPart,
    StaticPart,
)
from evofarm.pipeline.scope import MISSING, step_field
from evofarm.pipeline.templates import to_text
from evofarm.pipeline.workspace import confine_read, read_text

SUMMARY_CHARS: Final = 500
_DEFAULT_SESSION_TURNS: Final = 10


def format_result(value: Any) -> str:
    """A result as prompt text: strings as they are, data as indented JSON."""
    if isinstance(value, dict | list):
        try:
            return json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            return to_text(value)
    return to_text(value)


def build_prompt(parts: Sequence[Any] | None, ctx: StepContext) -> str:
    """The prompt text of ``parts`` (a step's ``prompt``).

    Raises:
        StepFailed: a file is missing, unreadable or outside the allowed
            directories; a referenced step has not run; a strict extract fails.
        TemplateError: strict mode and an unresolved template reference.
    """
    return "\n".join(_part(part, ctx) for part in parts or [])


def _part(part: Any, ctx: StepContext) -> str:
    if isinstance(part, StaticPart):
        return ctx.render(part.content)
    if isinstance(part, FilePart):
        return _file(part, ctx)
    if isinstance(part, PreviousResponsePart):
        return _previous(part, ctx)
    if isinstance(part, SessionContextPart):
        return _transcript(ctx, part.session_id, part.include_last_n or _DEFAULT_SESSION_TURNS)
    if isinstance(part, ClaudeContinuePart):
        transcript = _transcript(ctx, part.session_id, _DEFAULT_SESSION_TURNS)
        new = ctx.render(part.new_prompt) if part.new_prompt else ""
        return "\n".join(t for t in (transcript, new) if t)
    raise StepFailed(f"unsupported prompt part {type(part).__name__}")


def _file(part: FilePart, ctx: StepContext) -> str:
    raw = ctx.render(part.path).strip()
    runtime = ctx.runtime
    path = confine_read(
        raw,
        runtime.base_dir,
        also=runtime.read_roots,
        workspace=runtime.workspace,
        listed=runtime.read_files,
        what="prompt file",
    )
    text = read_text(path, encoding=part.encoding or "utf-8")
    if part.variables:
        # pipeline_ex lets a file part fill {{name}} placeholders from `variables`.
        for key, value in ctx.resolve(part.variables).items():
            text = text.replace("{{" + str(key) + "}}", to_text(value))
    if part.inject_as:
        return f"{part.inject_as}:\n{text}"
    return text


def _previous(part: PreviousResponsePart, ctx: StepContext) -> str:
    record = ctx.record(part.step)
    value = record.result
    if part.extract:
        found = step_field(record, part.extract.split("."))
        if found is not MISSING:
            value = found
        elif part.strict or ctx.strict:
            raise StepFailed(f"Field {part.extract!r} not found in the result of {part.step!r}")
    text = format_result(value)
    limit = part.max_length or (SUMMARY_CHARS if part.summary else None)
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return text


def _transcript(ctx: StepContext, session: str, last_n: int) -> str:
    messages = ctx.frame.sessions.get(session, [])[-last_n:]
    return "\n".join(f"{m.role}: {m.content}" for m in messages)
