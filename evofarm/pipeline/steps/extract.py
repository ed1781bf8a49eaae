"""``claude_extract``: a Claude call whose answer is extracted and post-processed.

``extraction_config.format``:

- ``json``: with a ``schema`` (JSON Schema or the pipeline_ex shorthand, see
  :mod:`evofarm.pipeline.steps.jsonout`) the schema is sent as the response
  schema and the answer must be JSON matching it (checked with jsonschema), else
  the step fails; without one, a JSON answer is parsed and any other answer is
  kept as ``{"content": text}``;
- ``summary``: the text shortened to ``max_summary_length`` (default 500) characters;
- ``text``, ``markdown``, ``structured`` (default): the text, stripped.

A ``schema`` without ``extraction_config`` implies ``json``.

``post_processing`` names operations whose outputs are added to the result,
which then becomes ``{"content": <extracted>, <operation>: <output>...}``:
``extract_code_blocks`` (fenced blocks), ``extract_links`` (URLs),
``extract_key_points`` (bullet and numbered lines), ``extract_recommendations``
(lines that recommend), ``generate_summary`` (a shortened text),
``format_markdown`` (normalised blank lines). With ``include_metadata`` the result
also carries ``metadata`` (format, model, characters). Unknown operations fail
the step, naming the known ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from evofarm.errors import StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.prompts import build_prompt
from evofarm.pipeline.schema import ClaudeExtractStep
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.pipeline.steps import jsonout
from evofarm.pipeline.steps.llm import claude_request

DEFAULT_SUMMARY_CHARS: Final = 500
_CODE_BLOCK: Final = re.compile(r"```[\w+-]*\n(.*?)```", re.DOTALL)
_LINK: Final = re.compile(r"https?://[^\s)>\]\"']{1,2000}")
_BULLET: Final = re.compile(r"^[ \t]{0,8}(?:[-*\u2022]|\d{1,3}[.)])[ \t]+(\S.*)$", re.MULTILINE)
_RECOMMEND: Final = re.compile(r"\b(recommend\w*|should|consider|suggest\w*|best practice)\b", re.I)


def _summary(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 3, 0)].rstrip() + "..."


def _recommendations(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if _RECOMMEND.search(line)]


def _format_markdown(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text.strip()) + "\n"


def _post_operations(limit: int) -> dict[str, Callable[[str], Any]]:
    return {
        "extract_code_blocks": lambda t: [b.strip("\n") for b in _CODE_BLOCK.findall(t)],
        "extract_links": _LINK.findall,
        "extract_key_points": _BULLET.findall,
        "extract_recommendations": _recommendations,
        "generate_summary": lambda t: _summary(t, limit),
        "format_markdown": _format_markdown,
    }


def claude_extract(step: ClaudeExtractStep, ctx: StepContext) -> Any:
    """Call Claude and extract the answer (see the module docstring)."""
    config = step.extraction_config
    fmt = (config.format if config else None) or ("json" if step.schema_ else "structured")
    limit = (config.max_summary_length if config else None) or DEFAULT_SUMMARY_CHARS
    schema = jsonout.to_json_schema(step.schema_) if step.schema_ and fmt == "json" else None
    model, params = claude_request(step, ctx)
    prompt = build_prompt(step.prompt, ctx)
    response = ctx.complete("claude", prompt, model=model, response_schema=schema, **params)
    text = response.text
    content: Any
    if fmt == "json":
        if schema is not None:
            content = jsonout.parse_json(text)
            jsonout.validate(content, schema)
        else:
            try:
                content = jsonout.parse_json(text)
            except StepFailed:
                content = {"content": text}
    elif fmt == "summary":
        content = _summary(text, limit)
    else:
        content = text.strip()
    operations = (config.post_processing if config else None) or []
    include_metadata = bool(config and config.include_metadata)
    if not operations and not include_metadata:
        return content
    known = _post_operations(limit)
    result: dict[str, Any] = {"content": content}
    for name in operations:
        operation = known.get(name)
        if operation is None:
            raise StepFailed(
                f"unknown post_processing {name!r} (known: {', '.join(sorted(known))})"
            )
        result[name] = operation(text)
    if include_metadata:
        result["metadata"] = {"format": fmt, "model": response.model, "characters": len(text)}
    return result


register_step_type(StepType("claude_extract", ClaudeExtractStep, claude_extract))
