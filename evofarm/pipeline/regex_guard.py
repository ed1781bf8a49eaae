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
   :data:`MAX_REGEX_INPUT_CHARS`.
3. **A time limit on every match.** Static rules cannot catch everything
   (``^(?:a?){31}a{31}$`` and ``^(?:(?:(?:a{0,12}){0,12}){0,12})$`` pass them
   and still backtrack for minutes), and without ``--sandbox`` (or with the
   ``in_process`` evaluator) nothing else would stop them. Patterns are
   therefore compiled with the ``regex`` package (``re``-compatible syntax,
   version 0) and every search, match, scan and substitution runs with a
   timeout (:data:`REGEX_TIMEOUT_S`, for a whole ``finditer`` scan too);
   running over it raises :class:`RegexTimeout`, a candidate error.

Compiled patterns are cached, so each pattern is compiled once per process.
:class:`GuardedPattern` is immutable and safe to share between threads.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable

# The stdlib parser behind ``re.compile``; private but stable across 3.11+.
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import regex

from evofarm.errors import ExecutionError

MAX_PATTERN_CHARS = 500
MAX_REGEX_INPUT_CHARS = 32_768
MAX_CACHED_PATTERNS = 512
#: Longest one regex operation (search, fullmatch, a whole scan, a substitution) may run.
REGEX_TIMEOUT_S = 0.25

_FLAG_BITS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
# The same letters for the ``regex`` package (its bits differ from ``re``'s).
_REGEX_BITS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "x": regex.VERBOSE}

_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}


class UnsafePattern(ValueError):
    """A pattern was refused; ``str()`` says why (used as a pydantic error)."""


class RegexTimeout(ExecutionError):
    """A regex operation ran over :data:`REGEX_TIMEOUT_S` (a candidate error, never retried)."""


class GuardedPattern:
    """A checked pattern whose every operation runs under a time limit.

    Args:
        source: the pattern's text (for messages).
        compiled: the ``regex`` compiled pattern.
        timeout_s: the limit of each operation.

    Every method raises :class:`RegexTimeout` past the limit; other errors are
    those of the ``regex`` package (``IndexError`` for a missing group,
    ``regex.error`` for a bad replacement template).
    """

    __slots__ = ("_compiled", "pattern", "timeout_s")

    def __init__(self, source: str, compiled: regex.Pattern[str], timeout_s: float) -> None:
        self.pattern = source
        self._compiled = compiled
        self.timeout_s = timeout_s

    def _timed(self, call: Callable[[float], Any]) -> Any:
        try:
            return call(self.timeout_s)
        except TimeoutError:
            raise RegexTimeout(
                f"regular expression {self.pattern!r} took longer than {self.timeout_s:g}s"
            ) from None

    def search(self, text: str) -> regex.Match[str] | None:
        """The first match anywhere in ``text``, or None."""
        found: regex.Match[str] | None = self._timed(
            lambda t: self._compiled.search(text, timeout=t)
        )
        return found

    def fullmatch(self, text: str) -> regex.Match[str] | None:
        """The match of the whole of ``text``, or None."""
        found: regex.Match[str] | None = self._timed(
            lambda t: self._compiled.fullmatch(text, timeout=t)
        )
        return found

    def finditer(self, text: str) -> list[regex.Match[str]]:
        """Every non-overlapping match, the whole scan within one time limit."""
        deadline = time.monotonic() + self.timeout_s
        matches: list[regex.Match[str]] = []

        def scan(_t: float) -> list[regex.Match[str]]:
            # The package's timeout is per step of the iterator: bound the whole scan.
            for match in self._compiled.finditer(text, timeout=self.timeout_s):
                matches.append(match)
                if time.monotonic() > deadline:
                    raise TimeoutError
            return matches

        result: list[regex.Match[str]] = self._timed(scan)
        return result

    def sub(self, replacement: str, text: str, count: int = 0) -> str:
        """``text`` with matches replaced (``\\1``/``\\g<name>`` refer to groups)."""
        result: str = self._timed(
            lambda t: self._compiled.sub(replacement, text, count=count, timeout=t)
        )
        return result


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
def compile_guarded(pattern: str, flags: str = "") -> GuardedPattern:
    """Check ``pattern`` for safety and compile it (cached).

    Args:
        pattern: the regular expression source.
        flags: letters from ``imsx``.

    Returns:
        The compiled pattern, every operation of it under :data:`REGEX_TIMEOUT_S`.

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
    regex_bits = regex.VERSION0
    for letter in flags:
        regex_bits |= _REGEX_BITS[letter]
    try:
        compiled = regex.compile(pattern, regex_bits)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise UnsafePattern(f"invalid regex: {exc}") from None
    return GuardedPattern(pattern, compiled, REGEX_TIMEOUT_S)
