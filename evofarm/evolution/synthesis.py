"""Example-driven synthesis of transform operations (no LLM).

Given pairs ``(actual, expected)`` of text, :func:`synthesize` searches for a
short list of transform operations that maps the actuals onto the expected
outputs. Candidates are derived from the examples themselves:

* the expected text is a substring of the actual -> ``split`` at a separator
  found in the actual, ``slice`` at its offsets;
* the expected tokens occur in the actual, in another order, cut, or with
  literal text between them -> a capture-group ``regex_replace`` over the
  actual's token classes (digit runs, letter runs, punctuation) whose
  replacement reorders the groups and puts the literals in;
* the text differs in case only -> ``lower``/``upper``/``title``;
* the actual is inside the expected -> ``prefix``/``suffix``/``format``;
* differing segments (character diff) -> literal ``replace``;
* the same words with other separators -> a whitespace-tolerant separator
  rewrite (``\\s*,\\s*`` to the expected gap);
* the expected words as one field of every input -> ``regex_extract``
  anchored on the literal context all the inputs share (``?q=``, ``src/``);
* the expected is the words' first characters with a constant mark -> an
  initials rewrite for any number of words;
* a few token-class rewrites (keep digits, keep letters, first letter of each
  word, collapse whitespace, trim non-word edges).

The search is a small beam over a few operations: each depth keeps the
candidate that makes the most pairs equal, then the highest mean similarity
(:func:`evofarm.fitness.similarity.similarity`), then the fewest assumptions;
``rng`` breaks exact ties. Everything is a pure function of the pairs and the
rng.
"""

from __future__ import annotations

import difflib
import itertools
import json
import random
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from evofarm.fitness.similarity import similarity
from evofarm.pipeline.transform_ops import OP_TYPES, TransformError, apply_operation

MAX_DEPTH = 3
#: Operation lists kept per depth of the search.
BEAM = 3
#: Pairs candidates are derived from at each depth (the first still failing).
SOURCE_PAIRS = 2
_SEGMENT = re.compile(r"[A-Za-z]+|\d+|[^A-Za-z\d]+")
_WORD = re.compile(r"[^\W_]+")

Op = dict[str, Any]


@lru_cache(maxsize=4096)
def _model(op_json: str) -> BaseModel | None:
    op = json.loads(op_json)
    cls = OP_TYPES.get(str(op.get("op")))
    if cls is None:
        return None
    try:
        return cls.model_validate(op)
    except ValidationError:
        return None


def run_op(value: Any, op: Op) -> Any:
    """``op`` applied to ``value``; ``None`` when it is invalid or fails."""
    if value is None:
        return None
    return _apply(value, _model(json.dumps(op, sort_keys=True)))


def run_op_on_each(values: Sequence[Any], op: Op) -> list[Any]:
    """``[run_op(v, op) for v in values]``, the operation parsed once for all of them."""
    model = _model(json.dumps(op, sort_keys=True))
    return [_apply(v, model) for v in values]


def _apply(value: Any, model: BaseModel | None) -> Any:
    if value is None or model is None:
        return None
    try:
        return apply_operation(value, model)
    except (TransformError, RecursionError, ValueError, re.error):
        return None


def _class_of(token: str, exact: bool) -> str:
    if token.isdigit():
        return rf"\d{{{len(token)}}}" if exact else r"\d+"
    if token.isalpha():
        return rf"[A-Za-z]{{{len(token)}}}" if exact else r"[A-Za-z]+"
    return r"\w+"


def _gap(run: str, loose: bool) -> str:
    if loose:
        return r"\W*"
    if run.isspace():
        return r"\s+"
    return re.escape(run)


def _copies_input(literal: str, actual: str) -> bool:
    """Whether a replacement literal is text of this one input, baked in as a constant.

    Such a literal fits the example it came from and no other (``212`` from
    ``212-555-0100``); the text must come from a capture group instead. Single
    characters are common constants (``+1``) and stay allowed.
    """
    return len(literal) >= 2 and literal.casefold() in actual.casefold()


def _escape_replacement(text: str) -> str:
    return text.replace("\\", "\\\\")


def rewrite_candidates(actual: str, expected: str) -> list[Op]:
    """Capture-group rewrites of ``actual`` that can produce ``expected``.

    Expected alphanumeric tokens are looked up in the actual (whole tokens
    first, else as a piece of a token, which cuts that token into groups); the
    pattern covers the actual's tokens with class groups and its punctuation
    literally (or loosely, ``\\W*``); the replacement lays out the groups in
    the expected order with the expected's own literals between them.
    """
    a_tokens = _SEGMENT.findall(actual)
    words = [i for i, t in enumerate(a_tokens) if t[0].isalnum()]
    if not words:
        return []
    cuts: dict[int, set[int]] = {i: set() for i in words}
    b_tokens = _SEGMENT.findall(expected)
    # A token the expected output also wants whole is never cut for a piece.
    wanted_whole = {t.casefold() for t in b_tokens}
    for token in (t for t in b_tokens if t[0].isalnum()):
        if any(a_tokens[i].casefold() == token.casefold() for i in words):
            continue
        for i in words:
            if a_tokens[i].casefold() in wanted_whole:
                continue
            at = a_tokens[i].casefold().find(token.casefold())
            if at >= 0:
                cuts[i].update({at, at + len(token)})
                break
    out: list[Op] = []
    for loose in (False, True):
        for anchored in (True, False):
            pieces: list[str] = []
            groups: list[str] = []
            pattern = ""
            for i, token in enumerate(a_tokens):
                if i not in cuts:
                    pattern += _gap(token, loose)
                    continue
                bounds = sorted({0, len(token), *cuts[i]})
                split = len(bounds) > 2
                for lo, hi in itertools.pairwise(bounds):
                    piece = token[lo:hi]
                    # The last piece stays open-ended so longer tokens still match.
                    exact = split and hi < len(token)
                    pattern += "(" + _class_of(piece, exact=exact) + ")"
                    groups.append(piece)
                pieces.append(token)
            if loose:
                pattern = re.sub(r"(\\W\*)+", r"\\W*", pattern)
            if anchored:
                pattern = "^" + pattern + "$"
            used: set[int] = set()
            replacement = ""
            for token in b_tokens:
                if token[0].isalnum():
                    index = next(
                        (k for k, g in enumerate(groups) if g == token and k not in used),
                        next(
                            (k for k, g in enumerate(groups) if g.casefold() == token.casefold()),
                            None,
                        ),
                    )
                    if index is None:
                        if _copies_input(token, actual):
                            break
                        replacement += _escape_replacement(token)
                    else:
                        used.add(index)
                        replacement += f"\\g<{index + 1}>"
                else:
                    replacement += _escape_replacement(token)
            else:
                if used:
                    out.append(
                        {"op": "regex_replace", "pattern": pattern, "replacement": replacement}
                    )
    return out


def substring_candidates(actual: str, expected: str) -> list[Op]:
    """``split``/``slice``/``regex_extract`` candidates when expected is inside actual."""
    # Located ignoring case: a case operation can follow the extraction.
    hay, needle = actual.casefold(), expected.casefold()
    if len(hay) != len(actual) or not needle or needle not in hay or needle == hay:
        return []
    out: list[Op] = []
    for sep in sorted({ch for ch in actual if not ch.isalnum()}):
        parts = hay.split(sep)
        for k, part in enumerate(parts):
            if part == needle:
                out.append({"op": "split", "separator": sep, "index": k})
                out.append({"op": "split", "separator": sep, "index": k - len(parts)})
    parts = hay.split()
    for k, part in enumerate(parts):
        if part == needle:
            out.append({"op": "split", "index": k})
            out.append({"op": "split", "index": k - len(parts)})
    start = hay.index(needle)
    end = start + len(expected)
    out += [
        {"op": "slice", "start": start, "end": end},
        {
            "op": "slice",
            "start": start - len(actual),
            **({} if end == len(actual) else {"end": end - len(actual)}),
        },
        {"op": "slice", "start": start, "end": end - len(actual)}
        if end < len(actual)
        else {"op": "slice", "start": start},
    ]
    left = actual[start - 1] if start else ""
    right = actual[end] if end < len(actual) else ""
    for body in (r"[^\s]+", r"\w+", r".+?", r"[A-Za-z]+", r"\d+", r"[\w.]+", r"[^\W_]+"):
        pre = re.escape(left) if left else "^"
        post = re.escape(right) if right else "$"
        out.append({"op": "regex_extract", "pattern": f"{pre}({body}){post}", "group": 1})
        out.append({"op": "regex_extract", "pattern": f"{pre}({body})", "group": 1})
        out.append({"op": "regex_extract", "pattern": f"({body}){post}", "group": 1})
    return out


def literal_candidates(actual: str, expected: str) -> list[Op]:
    """Prefix/suffix/format when the actual sits inside the expected, and diff replaces."""
    out: list[Op] = []
    at = expected.find(actual) if actual and actual != expected else -1
    before, after = (expected[:at], expected[at + len(actual) :]) if at >= 0 else ("", "")
    # Text of this very input around it is no constant to add.
    if at >= 0 and not any(_copies_input(w, actual) for w in _WORD.findall(f"{before} {after}")):
        if before:
            out.append({"op": "prefix", "text": before})
        if after:
            out.append({"op": "suffix", "text": after})
        template = (
            before.replace("{", "{{").replace("}", "}}")
            + "{}"
            + after.replace("{", "{{").replace("}", "}}")
        )
        out.append({"op": "format", "template": template})
    matcher = difflib.SequenceMatcher(None, actual, expected, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = actual[i1:i2], expected[j1:j2]
        if any(_copies_input(word, actual) for word in _WORD.findall(new)):
            continue  # the new text is this input's content, not a constant
        if tag in ("replace", "delete") and old:
            out.append({"op": "replace", "old": old, "new": new})
            if old.strip() and not old.isalnum():
                out.append({"op": "replace", "old": old.strip(), "new": new.strip()})
    return out


_ALNUM = re.compile(r"[^\W_]+")


def separator_candidates(actual: str, expected: str) -> list[Op]:
    """A whitespace-tolerant rewrite of the actual's field separator into the expected's.

    When both texts hold the same words in the same order (ignoring case) and
    every gap between the actual's words is one separator with optional
    whitespace around it (``", "``, ``" ,"``, ``","``) while every gap of the
    expected is one string, the separator run becomes a class regex
    (``\\s*,\\s*``) replaced by the expected gap: lists typed by hand vary in
    their spacing, which a literal replace of one example's gap misses. Gaps
    of several kinds (``", "`` and ``" "``) become any non-word run between
    two words (``\\b\\W+\\b``).
    """
    a_words, b_words = _ALNUM.findall(actual), _ALNUM.findall(expected)
    if len(a_words) < 2 or [w.casefold() for w in a_words] != [w.casefold() for w in b_words]:
        return []
    a_gaps = _inner_gaps(actual)
    b_gaps = set(_inner_gaps(expected))
    cores = {gap.strip() for gap in a_gaps}
    if len(b_gaps) != 1 or set(a_gaps) == b_gaps:
        return []
    (new,) = b_gaps
    if len(cores) == 1:
        core = cores.pop()
        pattern = r"\s+" if not core else r"\s*" + re.escape(core) + r"\s*"
    else:
        # Several separators (", " and " " in a title): any run between two words.
        pattern = r"\b\W+\b"
    return [{"op": "regex_replace", "pattern": pattern, "replacement": _escape_replacement(new)}]


def _inner_gaps(text: str) -> list[str]:
    """The text between consecutive alphanumeric words of ``text``."""
    spans = [m.span() for m in _ALNUM.finditer(text)]
    return [text[end:start] for (_, end), (start, _) in itertools.pairwise(spans)]


def initials_candidates(actual: str, expected: str) -> list[Op]:
    """Each word's first character followed by the expected's constant mark.

    When the expected's alphanumeric characters are the actual's words' first
    characters (ignoring case) and the text after each one is the same
    (``"."`` in ``A.K.L.``, ``""`` in ``AKL``), every word becomes its first
    character and that text: abbreviations of any number of words, where a
    rewrite with one group per word is tied to the examples' word counts.
    """
    words = _ALNUM.findall(actual)
    letters = [m.start() for m in re.finditer(r"[^\W_]", expected)]
    initials = "".join(w[0] for w in words).casefold()
    if len(words) < 2 or "".join(expected[i] for i in letters).casefold() != initials:
        return []
    marks = {expected[i + 1 : j] for i, j in itertools.pairwise([*letters, len(expected)])}
    if len(marks) != 1:
        return []
    replacement = r"\1" + _escape_replacement(marks.pop())
    return [{"op": "regex_replace", "pattern": r"\b(\w)\w*\W*", "replacement": replacement}]


#: Longest literal context a field extraction anchors on.
MAX_CONTEXT = 16


def _field_span(actual: str, expected: str) -> tuple[int, int] | None:
    """Where ``expected``'s words sit in ``actual`` as one field, or None.

    The field is the shortest stretch of ``actual`` holding the expected's
    alphanumeric words, whole and in order (ignoring case), with nothing but
    punctuation or spaces between them (``red+shoes`` for ``red shoes``).
    """
    words = [w.casefold() for w in _ALNUM.findall(expected)]
    if not words:
        return None
    runs = [(m.start(), m.end(), m.group().casefold()) for m in _ALNUM.finditer(actual)]
    best: tuple[int, int] | None = None
    for i in range(len(runs) - len(words) + 1):
        if [r[2] for r in runs[i : i + len(words)]] == words:
            span = (runs[i][0], runs[i + len(words) - 1][1])
            if best is None or span[1] - span[0] < best[1] - best[0]:
                best = span
    return best


def _common_suffix(texts: Sequence[str]) -> str:
    reversed_prefix = _common_prefix([t[::-1] for t in texts])
    return reversed_prefix[::-1]


def _common_prefix(texts: Sequence[str]) -> str:
    first = min(texts, key=len) if texts else ""
    for k, ch in enumerate(first):
        if any(t[k] != ch for t in texts):
            return first[:k]
    return first


def field_candidates(pairs: Sequence[tuple[str, str]]) -> list[Op]:
    """``regex_extract`` of a field anchored on literal context every input shares.

    Locates the expected words as a field in each actual (:func:`_field_span`),
    then keeps the context all the examples agree on: the longest common end of
    the text before the field (``?q=``, ``src/``), the longest common start of
    the text after it (``&``, ``.py``), anchored at the text's start or end
    when that context is all there is. The field's body is ``[^x]*`` up to the
    right context's first character, or lazy/greedy ``.*``: key=value records,
    query strings and path parts are read the same way, whatever one example's
    neighbouring fields are. One example's context is no agreement, so at least
    two pairs are needed.
    """
    lefts: list[str] = []
    rights: list[str] = []
    for actual, expected in pairs:
        span = _field_span(actual, expected)
        if span is None:
            return []
        lefts.append(actual[: span[0]])
        rights.append(actual[span[1] :])
    if len(lefts) < 2:
        return []
    left = _common_suffix(lefts)[-MAX_CONTEXT:]
    right = _common_prefix(rights)[:MAX_CONTEXT]
    if not left and not right:
        return []  # no literal context: the field is not anchored on anything
    pre = ("^" if all(t == left for t in lefts) else "") + re.escape(left)
    post = re.escape(right) + ("$" if all(t == right for t in rights) else "")
    bodies = [".*?", ".+?"] if post else [".*", ".+"]
    if right:
        bodies.insert(0, "[^" + re.escape(right[0]) + "]*")
    return [
        {"op": "regex_extract", "pattern": f"{pre}({body}){post}", "group": 1} for body in bodies
    ]


GENERIC: tuple[Op, ...] = (
    {"op": "lower"},
    {"op": "upper"},
    {"op": "title"},
    {"op": "strip"},
    {"op": "regex_replace", "pattern": r"\s+", "replacement": " "},
    {"op": "regex_replace", "pattern": r"\D", "replacement": ""},
    {"op": "regex_replace", "pattern": r"[^A-Za-z]", "replacement": ""},
    {"op": "regex_replace", "pattern": r"[^\w\s]", "replacement": ""},
    {"op": "regex_replace", "pattern": r"\b(\w)\w*\W*", "replacement": r"\1"},
    {"op": "regex_replace", "pattern": r"\W+", "replacement": " "},
    {"op": "regex_replace", "pattern": r"^\W+|\W+$", "replacement": ""},
)


def candidates(pairs: Iterable[tuple[str, str]]) -> list[Op]:
    """Every candidate derived from ``pairs`` (plus :data:`GENERIC`), without repeats."""
    found: dict[str, Op] = {}
    for op in GENERIC:
        found.setdefault(json.dumps(op, sort_keys=True), op)
    pairs = list(pairs)
    for op in field_candidates(pairs):
        found.setdefault(json.dumps(op, sort_keys=True), op)
    for actual, expected in pairs:
        for op in (
            *separator_candidates(actual, expected),
            *initials_candidates(actual, expected),
            *substring_candidates(actual, expected),
            *rewrite_candidates(actual, expected),
            *literal_candidates(actual, expected),
        ):
            found.setdefault(json.dumps(op, sort_keys=True), op)
    return list(found.values())


def _score(values: Sequence[Any], expected: Sequence[str]) -> tuple[int, float]:
    exact = sum(1 for v, e in zip(values, expected, strict=True) if v == e)
    sim = sum(
        similarity(v, e) if isinstance(v, str) else 0.0
        for v, e in zip(values, expected, strict=True)
    )
    return exact, sim / max(1, len(expected))


_NARROW_CLASS = re.compile(r"\[A-Za-z\]|\\d|\{\d+\}")


def assumption_cost(ops: Sequence[Op]) -> int:
    """How much an operation list assumes about inputs beyond its examples.

    Ties between lists that fit the examples equally are broken towards the
    one most likely to fit unseen inputs: cutting at a separator assumes
    least, a regex assumes one more per narrow character class (letters only,
    digits only, fixed lengths), and a slice assumes fixed offsets. A generic
    Occam prior of program synthesis (FlashFill ranks the same way), not a
    preference for any task.
    """
    cost = 0
    for op in ops:
        kind = op.get("op")
        if kind in ("regex_extract", "regex_replace"):
            cost += 1 + len(_NARROW_CLASS.findall(str(op.get("pattern", ""))))
        elif kind == "slice":
            cost += 3
        elif kind != "split":
            cost += 1
    return cost


def synthesize(
    pairs: Sequence[tuple[str, str]],
    rng: random.Random,
    *,
    max_depth: int = MAX_DEPTH,
    beam: int = BEAM,
) -> list[Op]:
    """Operations that bring the actuals closest to the expected outputs (maybe none).

    A small beam search: each depth expands the ``beam`` best operation lists
    so far by every candidate derived from their still-failing pairs. Returns
    the best list found (shortest among equals), or the empty list when no
    candidate improves on the actuals.
    """
    expected = [e for _, e in pairs]
    start: list[Any] = [a for a, _ in pairs]
    best_score, best_ops = _score(start, expected), []
    frontier: list[tuple[tuple[int, float], list[Op], list[Any]]] = [(best_score, [], start)]
    for _ in range(max_depth):
        grown: list[tuple[tuple[int, float], list[Op], list[Any]]] = []
        for score, ops, values in frontier:
            if score[0] == len(pairs):
                continue
            sources = [
                (v, e)
                for v, e in zip(values, expected, strict=True)
                if isinstance(v, str) and v != e
            ][:SOURCE_PAIRS]
            for op in candidates(sources):
                new_values = run_op_on_each(values, op)
                if any(not isinstance(v, str) for v in new_values):
                    continue
                new_score = _score(new_values, expected)
                if new_score > score:
                    grown.append((new_score, [*ops, op], new_values))
        if not grown:
            break
        # Stable order before the draw: by score, then the operations' JSON.
        grown.sort(
            key=lambda g: (
                -g[0][0],
                -g[0][1],
                assumption_cost(g[1]),
                json.dumps(g[1], sort_keys=True),
            )
        )
        top = [
            g
            for g in grown
            if g[0] == grown[0][0] and assumption_cost(g[1]) == assumption_cost(grown[0][1])
        ]
        pick = top[rng.randrange(len(top))]
        if pick[0] > best_score:
            best_score, best_ops = pick[0], pick[1]
        # The beam also keeps the closest lists by similarity alone: a general
        # first step (``-`` to space before a prefix) makes no pair equal yet
        # and would lose to lists that fit one example exactly.
        closest = sorted(
            grown, key=lambda g: (-g[0][1], -g[0][0], json.dumps(g[1], sort_keys=True))
        )
        # And the best list ending in each kind of operation: an extraction
        # that leaves one separator to rewrite competes with a rewrite fitting
        # some examples outright only if it survives to the next depth.
        by_kind: dict[str, tuple[tuple[int, float], list[Op], list[Any]]] = {}
        for g in grown:
            by_kind.setdefault(str(g[1][-1].get("op")), g)
        frontier = [pick]
        for g in (*grown[: beam - 1], *closest[:beam], *by_kind.values()):
            if all(g is not kept for kept in frontier):
                frontier.append(g)
    return best_ops
