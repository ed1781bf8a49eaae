"""Guarding user-supplied regular expressions against catastrophic backtracking.

Python's ``re`` cannot be interrupted from the outside and has no timeout, so a
hostile pattern such as ``(a+)+$`` could pin a worker for hours. evofarm's
choice (documented for the ``transform`` step's regex operations):

1. **Structural rejection at load time.** The pattern is parsed with the
   stdlib regex parser and refused when it can backtrack exponentially:
   a repeat nested inside an unbounded repeat (``(a+)+``, ``(a{2,5})*``),
   an alternation inside an unbounded repeat (``(a|ab)*``), or a
   backreference (which no static rule can bound). Patterns longer than
   :data:`MAX_PATTERN_CHARS` are refused too.
2. **An input size cap at run time.** What remains is at worst polynomial
   (e.g. ``\\w+\\s*=`` scanning a long string without ``=`` is quadratic),
   so regex operations refuse inputs longer than
   :data:`MAX_REGEX_INPUT_CHARS`. Together with the sandbox's wall-time
   limit this keeps a candidate from hanging a worker.

Compiled patterns are cached, so each pattern is compiled once per process.
"""

from __future__ import annotations

import functools
import re

# The stdlib parser behind ``re.compile``; private but stable across 3.11+.
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

MAX_PATTERN_CHARS = 500
MAX_REGEX_INPUT_CHARS = 32_768
MAX_CACHED_PATTERNS = 512

_FLAG_BITS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}

_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}


class UnsafePattern(ValueError):
    """A pattern was refused; ``str()`` says why (used as a pydantic error)."""


def flags_value(flags: str) -> int:
    """Turn a flag string such as ``"im"`` into ``re`` flag bits.

    Raises:
        UnsafePattern: an unknown flag letter.
    """
    bits = 0
    for letter in flags:
        if letter not in _FLAG_BITS:
            raise UnsafePattern(
                f"unknown regex flag {letter!r}; valid flags: {''.join(_FLAG_BITS)}"
            )
        bits |= _FLAG_BITS[letter]
    return bits


def _walk(items: Any, inside_unbounded: bool) -> None:
    """Raise UnsafePattern if the parsed subpattern can backtrack exponentially."""
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            _low, high, sub = arg
            if inside_unbounded and high > 1:
                raise UnsafePattern(
                    "nested quantifiers (a repeat inside an unbounded repeat, as in '(a+)+') "
                    "can backtrack exponentially and are not allowed"
                )
            _walk(sub, inside_unbounded or high == sre_parse.MAXREPEAT)
        elif name == "BRANCH":
            if inside_unbounded:
                raise UnsafePattern(
                    "an alternation inside an unbounded repeat (as in '(a|ab)*') can "
                    "backtrack exponentially and is not allowed; use a character class"
                )
            for branch in arg[1]:
                _walk(branch, inside_unbounded)
        elif name == "SUBPATTERN":
            _walk(arg[-1], inside_unbounded)
        elif name in {"ASSERT", "ASSERT_NOT"}:
            _walk(arg[1], inside_unbounded)
        elif name == "ATOMIC_GROUP":
            _walk(arg, inside_unbounded)
        elif name in {"GROUPREF", "GROUPREF_EXISTS"}:
            raise UnsafePattern("backreferences are not allowed in transform regexes")


@functools.lru_cache(maxsize=MAX_CACHED_PATTERNS)
def compile_guarded(pattern: str, flags: str = "") -> re.Pattern[str]:
    """Check ``pattern`` for safety and compile it (cached).

    Args:
        pattern: the regular expression source.
        flags: letters from ``imsx``.

    Returns:
        The compiled pattern.

    Raises:
        UnsafePattern: the pattern is too long, invalid or could backtrack
            catastrophically.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsafePattern(f"regex longer than {MAX_PATTERN_CHARS} characters")
    bits = flags_value(flags)
    try:
        parsed = sre_parse.parse(pattern, bits)
    except (re.error, OverflowError, RecursionError) as exc:
        raise UnsafePattern(f"invalid regex: {exc}") from None
    _walk(parsed, inside_unbounded=False)
    try:
        return re.compile(pattern, bits)
    except (re.error, OverflowError, RecursionError) as exc:  # pragma: no cover - parse caught it
        raise UnsafePattern(f"invalid regex: {exc}") from None
