"""Feature insertion: add an operation or a step, generated or from fitter genomes.

Four kinds, chosen among those that apply:

* an operation into a ``transform`` step: a fragment remembered from earlier
  campaigns' winners (when the campaign opts in to the collective memory), or
  any transform operation with parameters generated from the campaign's material
  (:func:`~evofarm.evolution.operators.op_factory.random_fragment`; LLM clean-ups
  too when the step reads an LLM step), or one copied from a donor's transform step;
* a whole step copied from a donor (a fitter genome), under a fresh name if
  its name is taken; references it cannot satisfy are repaired later;
* a clean-up ``transform`` after an LLM step (e.g. strip code fences), with the
  steps that read the LLM step rewired to read the clean-up instead;
* a new ``transform`` step on a data edge: a template a step reads
  (``{{inputs.x}}``, ``{{steps.a.result}}``) is routed through a new step holding
  a generated operation (the inverse of deleting a transform step).
"""

from __future__ import annotations

import copy
import random
import re
from typing import Any

from evofarm.evolution.genome import Genome
from evofarm.evolution.operators import library
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.common import (
    fresh_name,
    is_llm_step,
    is_transform,
    steps_of,
    summarize,
    with_steps,
)
from evofarm.evolution.operators.op_factory import random_fragment
from evofarm.evolution.operators.registry import register_operator
from evofarm.evolution.references import (
    explicit_references,
    rename_reference,
    replace_expression,
    step_references,
    template_expressions,
)

NAME = "feature_insertion"


def _fragment(
    context: OperatorContext, rng: random.Random, reads_llm: bool
) -> tuple[str, list[dict[str, Any]]]:
    """A generated operation or (a quarter of the time) a donor's operation.

    The two sources are drawn from separately so a bloated donor cannot crowd
    the generated operations out.
    """
    borrowed = [
        (f"op from {donor.id[:8]}", [dict(op)])
        for donor in context.donors
        for step in donor.pipeline.get("steps", [])
        if is_transform(step)
        for op in step["operations"]
    ]
    if borrowed and rng.random() < 0.25:
        return rng.choice(borrowed)
    # Collective memory (opt-in): no draw at all without patterns, so campaigns
    # that do not use it keep their results draw for draw.
    remembered = context.material.patterns
    if remembered and rng.random() < 0.3:
        index = rng.randrange(len(remembered))
        return f"pattern {index + 1} from memory", [
            dict(op) for op in remembered[index] if isinstance(op, dict)
        ]
    if reads_llm and rng.random() < 0.3:
        label, ops = rng.choice(library.LLM_CLEANUPS)
        return label, [dict(op) for op in ops]
    return random_fragment(rng, context.material, reads_llm=reads_llm)


def _insert_fragment(
    steps: list[dict[str, Any]], rng: random.Random, context: OperatorContext
) -> tuple[list[dict[str, Any]], str, str, Any, Any]:
    i = rng.choice([k for k, s in enumerate(steps) if is_transform(s)])
    llm_names = {str(s.get("name")) for s in steps if is_llm_step(s)}
    reads_llm = bool(step_references(steps[i], llm_names) & llm_names)
    label, fragment = _fragment(context, rng, reads_llm)
    ops = list(steps[i]["operations"])
    at = rng.randint(0, len(ops))
    new_ops = ops[:at] + copy.deepcopy(fragment) + ops[at:]
    steps[i] = {**steps[i], "operations": new_ops}
    why = f"inserted {label!r} at operation {at + 1}"
    return steps, str(steps[i]["name"]), why, ops, new_ops


def _insert_donor_step(
    steps: list[dict[str, Any]], rng: random.Random, context: OperatorContext
) -> tuple[list[dict[str, Any]], str, str, Any, Any]:
    donor = rng.choice(context.donors)
    step = copy.deepcopy(dict(rng.choice(donor.pipeline["steps"])))
    taken = {str(s.get("name")) for s in steps}
    step["name"] = fresh_name(str(step.get("name")), taken)
    # A step that reads other steps cannot go first: nothing could feed it.
    reads = bool(explicit_references(step))
    at = rng.randint(1 if reads and steps else 0, len(steps))
    steps.insert(at, step)
    why = f"transplanted step {step['name']!r} from {donor.id[:12]} at position {at + 1}"
    return steps, str(step["name"]), why, "", step


def _insert_cleanup(
    steps: list[dict[str, Any]], rng: random.Random, context: OperatorContext
) -> tuple[list[dict[str, Any]], str, str, Any, Any]:
    del context
    i = rng.choice([k for k, s in enumerate(steps) if is_llm_step(s)])
    source = str(steps[i]["name"])
    label, ops = rng.choice(library.LLM_CLEANUPS)
    taken = {str(s.get("name")) for s in steps}
    name = fresh_name(f"clean_{source}", taken)
    cleanup = {
        "name": name,
        "type": "transform",
        "input": "{{steps." + source + ".result}}",
        "operations": [dict(op) for op in ops],
    }
    rest = [
        rename_reference(s, source, name) if source in step_references(s, taken) else s
        for s in steps[i + 1 :]
    ]
    steps = [*steps[: i + 1], cleanup, *rest]
    why = f"cleaned the output of {source!r} ({label}) and rewired its readers"
    return steps, name, why, "", cleanup


_EDGE = re.compile(r"^(inputs\.[A-Za-z_][\w-]*|steps\.[A-Za-z_][\w-]*(\.result)?)$")


def _edges(steps: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(reader index, expression) for every plain input or step-result template."""
    return [
        (i, expression)
        for i, step in enumerate(steps)
        for expression in template_expressions(step)
        if _EDGE.match(expression)
    ]


def _insert_on_edge(
    steps: list[dict[str, Any]], rng: random.Random, context: OperatorContext
) -> tuple[list[dict[str, Any]], str, str, Any, Any]:
    reader, expression = rng.choice(_edges(steps))
    label, ops = random_fragment(rng, context.material)
    taken = {str(s.get("name")) for s in steps}
    stem = expression.split(".")[1].replace("-", "_")
    name = fresh_name(f"prep_{stem}", taken)
    step = {
        "name": name,
        "type": "transform",
        "input": "{{" + expression + "}}",
        "operations": [dict(op) for op in ops],
    }
    steps = [
        *steps[:reader],
        step,
        replace_expression(steps[reader], expression, f"steps.{name}.result"),
        *steps[reader + 1 :],
    ]
    reader_name = steps[reader + 1]["name"]
    why = f"routed {{{{{expression}}}}} through a new step ({label}) before {reader_name!r}"
    return steps, name, why, "", step


@register_operator(NAME, 0.4, "insert a generated operation or a step from fitter genomes")
def feature_insertion(
    genome: Genome, rng: random.Random, context: OperatorContext
) -> Genome | None:
    """Insert one fragment or step (see module docs)."""
    steps = steps_of(genome)
    room = len(steps) < context.max_steps
    kinds = []
    if any(is_transform(s) for s in steps):
        kinds += [_insert_fragment] * 4
    if room and context.donors:
        kinds.append(_insert_donor_step)
    if room and any(is_llm_step(s) for s in steps):
        kinds.append(_insert_cleanup)
    if room and _edges(steps):
        kinds.append(_insert_on_edge)
    if not kinds:
        return None
    new_steps, target, why, before, after = rng.choice(kinds)(steps, rng, context)
    return with_steps(
        genome,
        new_steps,
        context.generation,
        operator=NAME,
        target=target,
        before=before if isinstance(before, str) else summarize(before),
        after=after,
        rationale=why,
    )
