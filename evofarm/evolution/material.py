"""The material operators draw constants from: found in the campaign, not built in.

:func:`material_of` reads the suite's *training* examples (inputs and expected
outputs) and the seed pipelines and collects what a transform could need:
separator and punctuation characters, literal fragments that expected outputs
contain but inputs lack (a ``" <"`` between fields, a constant word), and the
lengths of expected outputs. A small :data:`GENERIC_STRINGS` set is always
added, so a campaign with no examples still has something to work with.

:class:`Material` is plain JSON data, a pure function of its arguments
(everything is sorted, counts break ties by value), so the in-process loop
and every farm worker derive the identical material for a campaign and breed
identical children from identical tasks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

from evofarm.evolution.examples import Example

#: Strings every campaign's material holds: the empty string and common separators.
GENERIC_STRINGS: tuple[str, ...] = ("", " ", ",", "-", ".", "\n")
MAX_CHARS = 16
MAX_LITERALS = 16
MAX_WORDS = 12
MAX_LENGTHS = 8
#: Longest literal fragment kept (longer ones are data, not structure).
MAX_LITERAL_LEN = 12

_NON_ALNUM_RUN = re.compile(r"[^A-Za-z0-9]+")
_WORD = re.compile(r"[A-Za-z0-9]+")
_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)


class Material(BaseModel):
    """Constants for one campaign's operators (JSON; see module docs).

    Attributes:
        chars: Non-alphanumeric characters seen, most frequent first.
        literals: Fragments of expected outputs absent from their inputs
            (punctuation runs, constant words), most frequent first.
        words: Words occurring in the expected output of several examples but
            not in their inputs (constants a format or prefix may need).
        lengths: Lengths of expected outputs, most frequent first.
        patterns: Operation fragments from the collective memory (winners of
            earlier campaigns, :func:`~evofarm.evolution.memory.offered_fragments`)
            that feature insertion may splice in; empty unless the campaign
            opts in with ``memory.use``, and then left out of nothing else.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    chars: tuple[str, ...] = ()
    literals: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    lengths: tuple[int, ...] = ()
    patterns: tuple[tuple[JsonValue, ...], ...] = ()

    @property
    def strings(self) -> tuple[str, ...]:
        """Every literal string value: generic set, characters, literals, words."""
        return tuple(dict.fromkeys([*GENERIC_STRINGS, *self.chars, *self.literals, *self.words]))

    @property
    def separators(self) -> tuple[str, ...]:
        """Non-empty strings that can separate fields (characters and literals)."""
        return tuple(s for s in dict.fromkeys([*self.chars, *self.literals, *GENERIC_STRINGS]) if s)


def _ranked(counts: Counter[Any], limit: int) -> tuple[Any, ...]:
    return tuple(v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:limit])


def _seed_strings(data: Any) -> Iterable[str]:
    """Every string value inside a seed pipeline's data, templates cut out."""
    if isinstance(data, str):
        yield from (s for s in _TEMPLATE.split(data) if s)
    elif isinstance(data, Mapping):
        for value in data.values():
            yield from _seed_strings(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from _seed_strings(value)


def material_of(examples: Sequence[Example], seeds: Sequence[Mapping[str, Any]] = ()) -> Material:
    """The material of a campaign from its training examples and seed pipelines' data.

    Pure and deterministic: the result depends only on the values given, never
    on their order.
    """
    chars: Counter[str] = Counter()
    literals: Counter[str] = Counter()
    words: Counter[str] = Counter()
    lengths: Counter[int] = Counter()
    for example in sorted(examples, key=lambda e: e.case_id):
        for text in example.inputs.values():
            chars.update(ch for ch in text if not ch.isalnum())
        expected = example.expected
        if expected is None:
            continue
        lengths[len(expected)] += 1
        chars.update(ch for ch in expected if not ch.isalnum())
        source = " ".join(example.inputs.values())
        for run in set(_NON_ALNUM_RUN.findall(expected)):
            if len(run) <= MAX_LITERAL_LEN and run not in source:
                literals[run] += 1
        lowered = source.lower()
        for word in set(_WORD.findall(expected)):
            if word.lower() not in lowered:
                words[word] += 1
    for pipeline in seeds:
        for text in _seed_strings(pipeline.get("steps", [])):
            chars.update(ch for ch in text if not ch.isalnum())
            for run in _NON_ALNUM_RUN.findall(text):
                if len(run) <= MAX_LITERAL_LEN:
                    literals[run] += 1
    # A word is a constant only if several expected outputs share it.
    constant_words = Counter({w: n for w, n in words.items() if n >= 2})
    return Material(
        chars=_ranked(chars, MAX_CHARS),
        literals=_ranked(literals, MAX_LITERALS),
        words=_ranked(constant_words, MAX_WORDS),
        lengths=_ranked(lengths, MAX_LENGTHS),
    )
