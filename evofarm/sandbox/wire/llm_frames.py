"""The schema of an ``llm`` frame, the one frame a candidate's code can shape.

A python step runs inside the child and can write to the pipe its LLM calls use,
so the worker treats every ``llm`` frame as hostile: the frame must be exactly
``{"type": "llm", "id": INT, "request": {...}}`` with a request that meets
:class:`~evofarm.providers.base.LLMRequest` *and* the limits below (sizes,
counts, schema depth). Numbers are finite because the frame reader refuses
``NaN`` and ``Infinity`` (:func:`evofarm.sandbox.wire.channel.decode_body`).

A frame that fails any of this raises :class:`BadFrame`; the parent ends the
evaluation as ``forbidden`` (a genuine runtime never writes such a frame), and
nothing of it reaches a provider.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from evofarm.errors import FarmError
from evofarm.providers.base import LLMRequest

MAX_CALL_ID = 2**31 - 1
MAX_MODEL_CHARS = 200
MAX_MESSAGES = 256
MAX_TEXT_CHARS = 1_000_000
MAX_TOTAL_CHARS = 4_000_000
MAX_STOP_SEQUENCES = 16
MAX_STOP_CHARS = 1000
MAX_OUTPUT_TOKENS = 1_000_000
MAX_SCHEMA_BYTES = 64 * 1024
MAX_SCHEMA_DEPTH = 32
_FRAME_KEYS = frozenset({"type", "id", "request"})


class BadFrame(FarmError):
    """An ``llm`` frame broke the wire's schema or limits (the candidate's doing)."""


def _depth(value: Any, level: int = 0) -> int:
    """Nesting depth of a JSON value, stopping early past the limit."""
    if level > MAX_SCHEMA_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _check_limits(request: LLMRequest) -> None:
    if len(request.model) > MAX_MODEL_CHARS:
        raise BadFrame(f"llm frame: model name over {MAX_MODEL_CHARS} characters")
    if not 1 <= len(request.messages) <= MAX_MESSAGES:
        raise BadFrame(f"llm frame: 1 to {MAX_MESSAGES} messages, got {len(request.messages)}")
    texts = [m.content for m in request.messages] + [request.system or ""]
    if any(len(t) > MAX_TEXT_CHARS for t in texts):
        raise BadFrame(f"llm frame: a message over {MAX_TEXT_CHARS} characters")
    if sum(len(t) for t in texts) > MAX_TOTAL_CHARS:
        raise BadFrame(f"llm frame: messages over {MAX_TOTAL_CHARS} characters in all")
    if request.max_tokens > MAX_OUTPUT_TOKENS:
        raise BadFrame(f"llm frame: max_tokens over {MAX_OUTPUT_TOKENS}")
    stops = request.stop_sequences
    if len(stops) > MAX_STOP_SEQUENCES or any(len(s) > MAX_STOP_CHARS for s in stops):
        raise BadFrame(
            f"llm frame: at most {MAX_STOP_SEQUENCES} stop sequences of {MAX_STOP_CHARS} characters"
        )
    schema = request.response_schema
    if schema is not None:
        if len(json.dumps(schema, allow_nan=False)) > MAX_SCHEMA_BYTES:
            raise BadFrame(f"llm frame: response_schema over {MAX_SCHEMA_BYTES} bytes")
        if _depth(schema) > MAX_SCHEMA_DEPTH:
            raise BadFrame(f"llm frame: response_schema nested over {MAX_SCHEMA_DEPTH} levels")


def parse_llm_frame(message: dict[str, Any]) -> tuple[int, LLMRequest]:
    """The call id and request of an ``llm`` frame, checked against the module's limits.

    Raises:
        BadFrame: anything about the frame is off (never another exception).
    """
    if set(message) != _FRAME_KEYS or message.get("type") != "llm":
        raise BadFrame(f"llm frame: expected keys {sorted(_FRAME_KEYS)}, got {sorted(message)}")
    call_id = message["id"]
    if isinstance(call_id, bool) or not isinstance(call_id, int) or not 1 <= call_id <= MAX_CALL_ID:
        raise BadFrame("llm frame: id must be an integer from 1 to 2**31-1")
    try:
        request = LLMRequest.model_validate(message["request"], strict=False)
        _check_limits(request)
    except BadFrame:
        raise
    except (ValidationError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise BadFrame(f"llm frame: invalid request: {type(exc).__name__}") from None
    return call_id, request
