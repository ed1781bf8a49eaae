"""Sequence reshuffling: move one step without breaking data dependencies.

A step may move to any position after every step it reads and before every
step that reads it (see :mod:`evofarm.evolution.references`).
"""

from __future__ import annotations

import random

from evofarm.evolution.genome import Genome
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.common import steps_of, with_steps
from evofarm.evolution.operators.registry import register_operator
from evofarm.evolution.references import dependencies

NAME = "sequence_reshuffle"


def legal_positions(deps: list[set[str]], names: list[str], i: int) -> list[int]:
    """Insertion indexes (into the list without step ``i``) that keep dependencies."""
    moving = names[i]
    rest = [n for k, n in enumerate(names) if k != i]
    rest_deps = [d for k, d in enumerate(deps) if k != i]
    after = max((k + 1 for k, n in enumerate(rest) if n in deps[i]), default=0)
    before = min((k for k, d in enumerate(rest_deps) if moving in d), default=len(rest))
    return [k for k in range(after, before + 1) if k != i]


@register_operator(NAME, 0.1, "move a step to another position its dependencies allow")
def sequence_reshuffle(
    genome: Genome, rng: random.Random, context: OperatorContext
) -> Genome | None:
    """Move one step to a random legal position."""
    steps = steps_of(genome)
    if len(steps) < 2:
        return None
    deps = dependencies(steps)
    names = [str(s.get("name")) for s in steps]
    movable = [(i, legal_positions(deps, names, i)) for i in range(len(steps))]
    movable = [(i, p) for i, p in movable if p]
    if not movable:
        return None
    i, positions = rng.choice(movable)
    j = rng.choice(positions)
    step = steps.pop(i)
    steps.insert(j, step)
    return with_steps(
        genome,
        steps,
        context.generation,
        operator=NAME,
        target=names[i],
        before=" ".join(names),
        after=" ".join(str(s.get("name")) for s in steps),
        rationale=f"moved {names[i]!r} from position {i + 1} to {j + 1}",
    )
