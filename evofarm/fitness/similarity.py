"""Graded similarity between an output and the expected one, in [0, 1].

Used as a signal the search can climb (it never changes the reported
fitness, see :func:`evofarm.evolution.engine.member_of`) and by the
``similarity`` check type for partial credit.

Metrics:

* ``edit``: ``1 - levenshtein(a, b) / max(len(a), len(b))`` (1.0 for two empty texts);
* ``token``: Jaccard overlap of the whitespace/punctuation-split token multisets.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

Metric = Literal["edit", "token"]
#: Longest text compared character by character; longer texts are cut (cost is quadratic).
MAX_EDIT_CHARS = 2000
_TOKEN = re.compile(r"\w+|[^\w\s]")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute: cost 1 each)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(a: str, b: str) -> float:
    """Normalised edit similarity (see module docs)."""
    a, b = a[:MAX_EDIT_CHARS], b[:MAX_EDIT_CHARS]
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - edit_distance(a, b) / longest


def token_similarity(a: str, b: str) -> float:
    """Jaccard overlap of token multisets (1.0 for two texts without tokens)."""
    ta, tb = Counter(_TOKEN.findall(a)), Counter(_TOKEN.findall(b))
    union = sum((ta | tb).values())
    return 1.0 if union == 0 else sum((ta & tb).values()) / union


def similarity(actual: str, expected: str, metric: Metric = "edit") -> float:
    """How close ``actual`` is to ``expected`` under ``metric``, in [0, 1]."""
    if actual == expected:
        return 1.0
    return (
        edit_similarity(actual, expected)
        if metric == "edit"
        else token_similarity(actual, expected)
    )
