"""Step deletion: remove one step and let the steps that read it read what it read.

* A step whose ``input`` is one template (``{{inputs.x}}``, ``{{steps.a.result}}``)
  is bypassed: its readers' template references become that template's
  expression (when every reader reads it through templates only).
* Otherwise, a step that read exactly one other step is replaced by that step in
  its readers' references.
* A step with readers and neither of those cannot be deleted without inventing
  data, so the operator skips it; a step nobody reads can always go.
"""

from __future__ import annotations

import random

from evofarm.evolution.genome import Genome
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.common import steps_of, with_steps
from evofarm.evolution.operators.registry import register_operator
from evofarm.evolution.references import (
    dependencies,
    rename_reference,
    single_template,
    step_references,
    substitute_reference,
)

NAME = "step_deletion"


@register_operator(NAME, 0.1, "delete a step, rewiring its readers to its input")
def step_deletion(genome: Genome, rng: random.Random, context: OperatorContext) -> Genome | None:
    """Delete one random step (never the only one)."""
    steps = steps_of(genome)
    if len(steps) < 2:
        return None
    deps = dependencies(steps)
    names = [str(s.get("name")) for s in steps]

    every = set(names)

    def bypassed(i: int, expression: str) -> bool:
        # Prompt parts and conditions name steps outside templates: a bypass must
        # leave no reader still naming the deleted step.
        return all(
            names[i] not in step_references(substitute_reference(s, names[i], expression), every)
            for k, s in enumerate(steps)
            if names[i] in deps[k]
        )

    def rewire(i: int) -> tuple[str, str] | None:
        """How readers of step ``i`` are rewired: ("bypass"|"rename", target)."""
        expression = single_template(steps[i].get("input"))
        if expression is not None and bypassed(i, expression):
            return "bypass", expression
        feeds = sorted(deps[i])
        if len(feeds) == 1:
            return "rename", feeds[0]
        read = any(names[i] in d for d in deps)
        return None if read else ("none", "")

    plans = [(i, rewire(i)) for i in range(len(steps))]
    deletable = [(i, plan) for i, plan in plans if plan is not None]
    if not deletable:
        return None
    i, plan = rng.choice(deletable)
    how, target = plan
    gone = names[i]
    rest = steps[:i] + steps[i + 1 :]
    if how == "bypass":
        rest = [substitute_reference(s, gone, target) for s in rest]
        why = f"deleted {gone!r}; its readers now read {{{{{target}}}}}"
    elif how == "rename":
        rest = [rename_reference(s, gone, target) for s in rest]
        why = f"deleted {gone!r}; its readers now read {target!r}"
    else:
        why = f"deleted {gone!r}, which nothing read"
    return with_steps(
        genome,
        rest,
        context.generation,
        operator=NAME,
        target=gone,
        before=" ".join(names),
        after=" ".join(str(s.get("name")) for s in rest),
        rationale=why,
    )
