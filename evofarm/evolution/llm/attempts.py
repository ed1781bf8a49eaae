"""Earlier attempts on a parent: what the proposer is told not to repeat.

A pure function of stored genomes, so the in-process loop (its genome table) and
a farm worker (the genomes its store's lineage names) give the proposer the same
list. Only children born *before* the task's generation count: children of the
same generation are being bred concurrently on other workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.runtime import Attempt

#: Attempts shown to the proposer (the most recent ones).
MAX_ATTEMPTS = 5
CHANGE_CHARS = 300


def attempts_of(
    parent_id: str,
    genomes: Iterable[Genome],
    before_generation: int,
    fitness: Mapping[str, float] | None = None,
    *,
    limit: int = MAX_ATTEMPTS,
) -> tuple[Attempt, ...]:
    """The last ``limit`` children of ``parent_id`` born before ``before_generation``.

    Sorted oldest first (by generation, then id), so the text built from them is
    the same wherever it is built.
    """
    fitness = fitness or {}
    children = (
        sorted(
            (
                g
                for g in genomes
                if g.parents and g.parents[0] == parent_id and g.generation < before_generation
            ),
            key=lambda g: (g.generation, g.id),
        )[-limit:]
        if limit > 0
        else []
    )
    attempts = []
    for child in children:
        last = child.mutations[-1] if child.mutations else None
        attempts.append(
            Attempt(
                genome=child.id,
                generation=child.generation,
                operator=last.operator if last else "crossover",
                change=((last.after or last.rationale) if last else "crossover")[:CHANGE_CHARS],
                fitness=fitness.get(child.id),
            )
        )
    return tuple(attempts)
