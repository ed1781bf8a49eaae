"""Step-aligned crossover of two pipelines.

Steps are aligned by name (the same step in two relatives, wherever evolution
moved it), and by position for steps whose names the other parent lacks.
Everything but the steps (name, inputs, defaults, providers...) comes from the
first parent. The raw child may read a step it no longer has;
:func:`evofarm.evolution.repair.finalize` rewires or rejects it.

* ``one_point``: the first parent's steps before a random cut, then the second
  parent's steps that are not already in the child, in the second parent's order.
* ``uniform``: each aligned pair contributes one of its two versions with equal
  chance; a step only one parent has is kept with chance 1/2.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from evofarm.evolution.genome import Genome, MutationRecord

CrossoverFn = Callable[[Genome, Genome, random.Random, int], "Genome | None"]


def _steps(genome: Genome) -> list[dict[str, Any]]:
    return [dict(s) for s in genome.pipeline.get("steps", [])]


def _child(
    a: Genome, b: Genome, steps: list[dict[str, Any]], *, name: str, detail: str, generation: int
) -> Genome:
    record = MutationRecord(
        operator=f"crossover:{name}",
        before=f"{a.id[:12]} x {b.id[:12]}",
        after=" ".join(str(s.get("name")) for s in steps),
        rationale=detail,
    )
    return Genome.from_data(
        {**a.pipeline, "steps": steps},
        generation=generation,
        parents=[a.id, b.id],
        mutations=[record],
    )


def align(
    sa: list[dict[str, Any]], sb: list[dict[str, Any]]
) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Pairs ``(step of a, step of b)`` in ``a``'s order; ``None`` where one lacks it.

    Steps with equal names pair up; the others pair by position among the
    unmatched ones; ``b``'s leftovers come last.
    """
    names_b = {str(s.get("name")): s for s in sb}
    names_a = {str(s.get("name")) for s in sa}
    spare_b = [s for s in sb if str(s.get("name")) not in names_a]
    pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
    for step in sa:
        name = str(step.get("name"))
        if name in names_b:
            pairs.append((step, names_b[name]))
        else:
            pairs.append((step, spare_b.pop(0) if spare_b else None))
    pairs += [(None, s) for s in spare_b]
    return pairs


def one_point(a: Genome, b: Genome, rng: random.Random, generation: int) -> Genome | None:
    """``a``'s steps before a random cut, then ``b``'s steps not yet in the child.

    Returns ``None`` when ``a`` has fewer than two steps (no cut point exists).
    """
    sa, sb = _steps(a), _steps(b)
    if len(sa) < 2:
        return None
    cut = rng.randint(1, len(sa) - 1)
    head = sa[:cut]
    taken = {str(s.get("name")) for s in head}
    steps = head + [s for s in sb if str(s.get("name")) not in taken]
    return _child(
        a, b, steps, name="one_point", detail=f"cut after step {cut}", generation=generation
    )


def uniform(a: Genome, b: Genome, rng: random.Random, generation: int) -> Genome | None:
    """Each aligned pair gives one of its versions; unpaired steps survive with chance 1/2."""
    steps: list[dict[str, Any]] = []
    picks: list[str] = []
    for step_a, step_b in align(_steps(a), _steps(b)):
        options = [(t, s) for t, s in (("a", step_a), ("b", step_b)) if s is not None]
        if len(options) == 2:
            tag, step = options[0] if rng.random() < 0.5 else options[1]
        elif rng.random() < 0.5:
            continue
        else:
            tag, step = options[0]
        steps.append(step)
        picks.append(tag)
    if not steps:
        return None
    return _child(
        a, b, steps, name="uniform", detail="steps from " + "".join(picks), generation=generation
    )


CROSSOVERS: dict[str, CrossoverFn] = {"one_point": one_point, "uniform": uniform}
"""Crossover kinds by name (``evolution.crossover`` in a campaign)."""
