"""The ``llm_judge`` check's prompt rendering and score parsing.

The judge prompt is plain text with three kinds of placeholder, replaced
literally (no template language, so candidate output cannot inject
placeholders of its own: replacement is one pass over the judge's prompt):

* ``{{output}}``: the selected output (JSON for non-text values);
* ``{{inputs.NAME}}``: a case input;
* ``{{expected}}``: the check's ``expected`` text, if any.

The reply is scanned for ``SCORE: <number>`` (case-insensitive); failing that,
the last number in the reply is taken. A score outside ``0..max_score`` or no
number at all means the judge's answer is unusable and the check fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*(output|expected|inputs\.[A-Za-z0-9_\-]+)\s*\}\}")
_SCORE_LINE = re.compile(r"score\s*[:=]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def as_text(value: Any) -> str:
    """Text for a selected value: strings as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def render_judge_prompt(
    template: str, output: Any, inputs: Mapping[str, Any], expected: str | None
) -> str:
    """Fill the judge prompt's placeholders (one pass; unknown inputs render empty)."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "output":
            return as_text(output)
        if key == "expected":
            return expected or ""
        name = key.split(".", 1)[1]
        return as_text(inputs[name]) if name in inputs else ""

    return _PLACEHOLDER.sub(fill, template)


def parse_score(reply: str, max_score: float) -> float | None:
    """The judge's score in ``0..max_score``, or ``None`` when unusable."""
    match = _SCORE_LINE.search(reply)
    if match is not None:
        raw = match.group(1)
    else:
        numbers = _NUMBER.findall(reply)
        if not numbers:
            return None
        raw = numbers[-1]
    score = float(raw)
    if not 0.0 <= score <= max_score:
        return None
    return score
