"""Built-in custom predicates for text output (``predicates: text``).

Each is pure and total: any value is accepted, wrong shapes fail the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evofarm.fitness.predicates import register_check


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


@register_check("non_empty")
def non_empty(value: Any, params: Mapping[str, Any]) -> bool | tuple[bool, str]:
    """Passes when the value is not None and not blank text or an empty collection."""
    if value is None:
        return False, "value is null"
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict, tuple)):
        return len(value) > 0
    return True


@register_check("word_count_between")
def word_count_between(value: Any, params: Mapping[str, Any]) -> bool | tuple[bool, str]:
    """Passes when the number of words is within ``min``..``max`` (inclusive)."""
    count = len(_as_text(value).split())
    low = int(params.get("min", 0))
    high = int(params.get("max", 1 << 62))
    return low <= count <= high, f"{count} words, wanted {low}..{high}"


@register_check("lines_sorted")
def lines_sorted(value: Any, params: Mapping[str, Any]) -> bool | tuple[bool, str]:
    """Passes when the non-empty lines are in ascending order (``reverse`` for descending)."""
    lines = [ln.strip() for ln in _as_text(value).splitlines() if ln.strip()]
    want = sorted(lines, reverse=bool(params.get("reverse", False)))
    return lines == want, f"{len(lines)} lines"
