"""The part of an expected output that needs a case change the rest must not get.

A transform's case operations (``upper``, ``lower``, ``title``) act on the
whole text, so an output like ``"ADA LOVELACE (admin)"`` from a record holding
``Ada Lovelace`` and ``admin`` cannot come from one operation list: one word
run is re-cased, another kept as the input has it. :func:`cased_piece` finds
that run, so the proposer can compute it in a step of its own and combine it
with the untouched text in a following step (FlashFill's concatenation of
independently computed substrings). Pure functions of their arguments.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")


def cased_piece(source: str, expected: str) -> str | None:
    """The run of ``expected`` whose words are ``source``'s words in another case.

    Returns the text from the first to the last re-cased word (``"ADA
    LOVELACE"``) when ``expected`` also keeps some word with a letter exactly
    as ``source`` writes it (``"admin"``) and no kept word lies inside that
    run; otherwise None (one case operation over the whole text would do, or
    the words are not the source's).
    """
    exact = set(_WORD.findall(source))
    folded = {w.casefold() for w in exact}
    cased: list[tuple[int, int]] = []
    kept: list[int] = []
    for match in _WORD.finditer(expected):
        word = match.group()
        if not any(ch.isalpha() for ch in word):
            continue
        if word in exact:
            kept.append(match.start())
        elif word.casefold() in folded:
            cased.append(match.span())
    if not cased or not kept:
        return None
    start, end = cased[0][0], cased[-1][1]
    if any(start <= k < end for k in kept):
        return None
    return expected[start:end]
