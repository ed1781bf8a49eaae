"""Typed random transform operations, with constants from the campaign's material.

Every operation of :data:`~evofarm.pipeline.transform_ops.OP_TYPES` can be made
here with parameters of the right type: regexes built from token classes (digit
runs, letter runs, words, punctuation, whitespace, anchors) with capture groups,
back-reference replacements that reorder them, split separators and indices,
slice bounds, format templates, and literal text from
:class:`~evofarm.evolution.material.Material`. Every made operation is
validated against its model (safe regex, balanced braces), so operators never
produce an operation the loader would reject.

All choices come from the ``rng`` passed in: same rng state and material, same
operation.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from evofarm.evolution.material import Material
from evofarm.pipeline.transform_ops import OP_TYPES

#: Token classes regexes are built from.
TOKEN_CLASSES: tuple[str, ...] = (
    r"\d+",
    r"[A-Za-z]+",
    r"\w+",
    r"[A-Z]",
    r"[a-z]+",
    r"\d",
    r"[^\w\s]",
    r"\S+",
    r".+",
)
#: Gaps between the parts of a built regex, besides the material's own characters.
GAPS: tuple[str, ...] = (r"\s+", r"\W+", r"\W*", r"\s*", r".*?", "")
#: Operations that take parameters worth inventing, weighted for insertion.
INSERTABLE: tuple[tuple[str, int], ...] = (
    ("lower", 2),
    ("upper", 2),
    ("title", 2),
    ("strip", 2),
    ("split", 3),
    ("regex_extract", 4),
    ("regex_replace", 5),
    ("replace", 4),
    ("slice", 2),
    ("pad", 1),
    ("prefix", 2),
    ("suffix", 2),
    ("concat", 1),
    ("format", 2),
    ("default", 1),
)
#: Operations that only make sense on LLM output (not drawn for plain text).
LLM_ONLY = ("strip_code_fences", "json_parse", "json_path")
_TRIES = 6


def pick_string(rng: random.Random, material: Material, *, nonempty: bool = False) -> str:
    """A literal from the material (empty string allowed unless ``nonempty``)."""
    pool = [s for s in material.strings if s or not nonempty]
    return rng.choice(pool)


def pick_separator(rng: random.Random, material: Material) -> str:
    """A non-empty separator from the material."""
    return rng.choice(material.separators)


def _escaped_chars(material: Material) -> list[str]:
    return [re.escape(c) for c in material.separators if len(c) <= 3]


def random_regex(rng: random.Random, material: Material) -> tuple[str, int]:
    """A regex from token classes and material separators, and its number of groups.

    Shape: optional ``^``, one to three parts (each a capture group around a
    token class, or a bare token class), joined by a gap or a literal separator,
    optional ``$``.
    """
    parts: list[str] = []
    groups = 0
    for k in range(rng.randint(1, 3)):
        if k:
            seps = _escaped_chars(material)
            parts.append(rng.choice(seps) if seps and rng.random() < 0.6 else rng.choice(GAPS))
        token = rng.choice(TOKEN_CLASSES)
        if rng.random() < 0.75:
            parts.append(f"({token})")
            groups += 1
        else:
            parts.append(token)
    if rng.random() < 0.3:
        parts.insert(0, "^")
    if rng.random() < 0.3:
        parts.append("$")
    return "".join(parts), groups


def random_replacement(rng: random.Random, material: Material, groups: int) -> str:
    """A replacement: back references to ``groups`` groups (maybe reordered) and literals."""
    if groups == 0 or rng.random() < 0.2:
        return pick_string(rng, material).replace("\\", "\\\\")
    refs = [f"\\{i}" for i in range(1, groups + 1)]
    rng.shuffle(refs)
    refs = refs[: rng.randint(1, len(refs))]
    out = refs[0]
    for ref in refs[1:]:
        out += pick_string(rng, material).replace("\\", "\\\\") + ref
    return out


def _ints(rng: random.Random, material: Material) -> int:
    return rng.choice([-4, -3, -2, -1, 0, 1, 2, 3, 4, *material.lengths])


def _format_template(rng: random.Random, material: Material) -> str:
    before = pick_string(rng, material)
    after = pick_string(rng, material)
    return (
        (before + "{}" + after)
        .replace("{}", "\0")
        .replace("{", "{{")
        .replace("}", "}}")
        .replace("\0", "{}")
    )


def _params(name: str, rng: random.Random, material: Material) -> dict[str, Any]:
    makers: dict[str, Callable[[], dict[str, Any]]] = {
        "strip": lambda: {} if rng.random() < 0.6 else {"chars": pick_separator(rng, material)},
        "split": lambda: {
            "separator": pick_separator(rng, material) if rng.random() < 0.85 else None,
            "index": rng.choice([0, 0, 1, 1, 2, -1, -1, -2]),
        },
        "regex_extract": lambda: _extract(rng, material),
        "regex_replace": lambda: _replace_regex(rng, material),
        "replace": lambda: {
            "old": pick_separator(rng, material),
            "new": pick_string(rng, material),
        },
        "slice": lambda: {
            k: v
            for k, v in (("start", _ints(rng, material)), ("end", _ints(rng, material)))
            if rng.random() < 0.6
        },
        "pad": lambda: {
            "width": rng.choice([*material.lengths, 2, 3, 4]),
            "fill": rng.choice(["0", " ", *[c for c in material.chars if len(c) == 1]]),
            "side": rng.choice(["left", "right"]),
        },
        "prefix": lambda: {"text": pick_string(rng, material, nonempty=True)},
        "suffix": lambda: {"text": pick_string(rng, material, nonempty=True)},
        "concat": lambda: {"separator": pick_string(rng, material)},
        "format": lambda: {"template": _format_template(rng, material)},
        "default": lambda: {"value": pick_string(rng, material)},
        "json_path": lambda: {
            "path": rng.choice(["answer", "result", "value", "[0]"]),
            "optional": True,
        },
    }
    maker = makers.get(name)
    return maker() if maker else {}


def _extract(rng: random.Random, material: Material) -> dict[str, Any]:
    pattern, groups = random_regex(rng, material)
    return {"pattern": pattern, "group": rng.randint(1, groups) if groups else 0}


def _replace_regex(rng: random.Random, material: Material) -> dict[str, Any]:
    pattern, groups = random_regex(rng, material)
    return {"pattern": pattern, "replacement": random_replacement(rng, material, groups)}


def valid(op: dict[str, Any]) -> bool:
    """Whether ``op`` is a valid transform operation (its model accepts it)."""
    model = OP_TYPES.get(str(op.get("op")))
    if model is None:
        return False
    try:
        model.model_validate(op)
    except ValidationError:
        return False
    return True


def random_op(name: str, rng: random.Random, material: Material) -> dict[str, Any] | None:
    """A valid ``name`` operation with generated parameters, or None after a few tries."""
    for _ in range(_TRIES):
        op = {"op": name, **_params(name, rng, material)}
        if valid(op):
            return op
    return None


def random_fragment(
    rng: random.Random, material: Material, *, reads_llm: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """A label and a one-operation fragment (LLM clean-ups possible when ``reads_llm``)."""
    names = [n for n, _ in INSERTABLE] + (list(LLM_ONLY) if reads_llm else [])
    weights = [w for _, w in INSERTABLE] + ([2] * len(LLM_ONLY) if reads_llm else [])
    for _ in range(_TRIES):
        name = rng.choices(names, weights=weights, k=1)[0]
        op = random_op(name, rng, material)
        if op is not None:
            return f"new {name}", [op]
    return "trim whitespace", [{"op": "strip"}]
