"""Genetic distance and novelty over step signatures ("genes").

A genome's genes are short signatures of its steps (see
:func:`evofarm.evolution.genome.step_gene`); two pipelines that share a step
share its gene. Distance is the multiset Jaccard distance of the genes, so it
is cheap, symmetric, and works on the ids-and-scores checkpoint alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def gene_distance(a: Sequence[str], b: Sequence[str]) -> float:
    """Multiset Jaccard distance in [0, 1]: 0 for equal gene bags, 1 for disjoint ones."""
    if not a and not b:
        return 0.0
    ca, cb = Counter(a), Counter(b)
    shared = sum((ca & cb).values())
    union = sum((ca | cb).values())
    return 1.0 - shared / union


def novelty(genes: Sequence[str], others: Sequence[Sequence[str]], k: int = 5) -> float:
    """Mean distance from ``genes`` to its ``k`` nearest neighbours in ``others``.

    Returns 1.0 when there is nothing to compare with (everything is new then).
    """
    if not others:
        return 1.0
    distances = sorted(gene_distance(genes, other) for other in others)
    nearest = distances[: max(1, k)]
    return sum(nearest) / len(nearest)
