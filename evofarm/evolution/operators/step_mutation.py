"""Step mutation: change a step's type within its family, or one of its parameters.

For ``transform`` steps the parameters are the operations: swap one for another
of its family (``upper`` -> ``title``), change one operation parameter (values
drawn by the parameter's type: literals from the campaign's material, regexes
built from token classes), regenerate an operation's parameters, replace it by
a generated operation of any kind, drop an operation or move one.
For LLM steps: the model, the temperature and output-token limit (gemini
``token_budget``), the retry count (``claude_robust``), or the type within the
family (``claude`` <-> ``claude_smart`` <-> ``claude_robust``).
"""

from __future__ import annotations

import random
import re
import types
import typing
from typing import Any, Literal

from pydantic import ValidationError

from evofarm.evolution.genome import Genome, provider_slot
from evofarm.evolution.material import Material
from evofarm.evolution.operators import library
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.common import (
    is_llm_step,
    is_transform,
    step_fields,
    steps_of,
    with_steps,
)
from evofarm.evolution.operators.op_factory import random_fragment, random_op, random_regex
from evofarm.evolution.operators.registry import register_operator
from evofarm.pipeline.transform_ops import OP_TYPES

NAME = "step_mutation"

# Keys that only some types of an LLM family accept; dropped on a type change.
_TYPE_SPECIFIC = {
    "preset",
    "environment_aware",
    "retry_config",
    "token_budget",
    "functions",
    "schema",
    "validation_mode",
}
_SKIP_PARAMS = {"op", "template", "values", "value", "flags"}


def _choices_for(
    annotation: Any, name: str, current: Any, rng: random.Random, material: Material
) -> list[Any]:
    """Candidate values for one transform-op parameter, from its annotation."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    optional = type(None) in args
    inner = (
        [a for a in args if a is not type(None)]
        if origin in (typing.Union, types.UnionType)
        else [annotation]
    )
    values: list[Any] = [None] if optional else []
    for kind in inner:
        if typing.get_origin(kind) is Literal:
            values += list(typing.get_args(kind))
        elif kind is bool:
            values += [True, False]
        elif kind is int:
            base = current if isinstance(current, int) and not isinstance(current, bool) else 0
            values += sorted({base - 1, base + 1, 0, 1, -1, 2})
        elif kind is str:
            values += (
                [random_regex(rng, material)[0] for _ in range(3)]
                if name == "pattern"
                else list(material.strings)
            )
    return [v for v in values if v != current]


def _mutate_op_param(
    op: dict[str, Any], rng: random.Random, material: Material
) -> dict[str, Any] | None:
    model = OP_TYPES.get(str(op.get("op")))
    if model is None:
        return None
    fields = [(n, f) for n, f in model.model_fields.items() if n not in _SKIP_PARAMS]
    rng.shuffle(fields)
    for name, field in fields:
        choices = _choices_for(field.annotation, name, op.get(name), rng, material)
        rng.shuffle(choices)
        for value in choices[:3]:
            out = {k: v for k, v in op.items() if k != name}
            if value is not None:
                out[name] = value
            try:
                # Field constraints (ge=0, min_length, safe regexes) are the model's.
                model.model_validate(out)
            except ValidationError:
                continue
            return out
    return None


# How a parameter carries over when an operation is swapped for a sibling.
_CARRY: dict[tuple[str, str], str] = {
    ("replace", "old"): "pattern",
    ("replace", "new"): "replacement",
    ("regex_replace", "pattern"): "old",
    ("regex_replace", "replacement"): "new",
}


def _swap_in_family(op: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """``op`` as a sibling operation, parameters carried over where they mean the same.

    Returns None when ``op`` has no family or the sibling would not be valid
    (e.g. a regex pattern with metacharacters cannot become a literal ``old``).
    """
    name = str(op.get("op"))
    family = next((f for f in library.OP_FAMILIES if name in f), None)
    if family is None:
        return None
    other = rng.choice(sorted(family - {name}))
    model = OP_TYPES[other]
    swapped: dict[str, Any] = {"op": other}
    for key, value in op.items():
        target = _CARRY.get((name, key), key)
        if key == "op" or target not in model.model_fields:
            continue
        if (name, key) == ("regex_replace", "pattern") and re.escape(str(value)) != value:
            return None
        literal_to_regex = (name, key) == ("replace", "old")
        swapped[target] = re.escape(str(value)) if literal_to_regex else value
    try:
        model.model_validate(swapped)
    except ValidationError:
        return None
    return swapped


def _mutate_transform(
    step: dict[str, Any], rng: random.Random, material: Material
) -> tuple[dict[str, Any], str] | None:
    ops: list[dict[str, Any]] = list(step["operations"])
    if not ops:
        return None
    i = rng.randrange(len(ops))
    kinds = ["param", "param", "family", "regenerate", "retype"] + (
        ["drop", "move"] if len(ops) > 1 else []
    )
    rng.shuffle(kinds)
    for kind in kinds:
        new_ops = list(ops)
        if kind == "param":
            changed = _mutate_op_param(ops[i], rng, material)
            if changed is None:
                continue
            new_ops[i] = changed
            why = f"changed a parameter of operation {i + 1} ({ops[i].get('op')})"
        elif kind == "family":
            swapped = _swap_in_family(ops[i], rng)
            if swapped is None:
                continue
            new_ops[i] = swapped
            why = f"swapped operation {i + 1} {ops[i].get('op')} -> {swapped['op']}"
        elif kind == "regenerate":
            fresh = random_op(str(ops[i].get("op")), rng, material)
            if fresh is None or fresh == ops[i]:
                continue
            new_ops[i] = fresh
            why = f"regenerated the parameters of operation {i + 1} ({ops[i].get('op')})"
        elif kind == "retype":
            label, fragment = random_fragment(rng, material)
            new_ops[i : i + 1] = fragment
            why = f"replaced operation {i + 1} ({ops[i].get('op')}) by {label}"
        elif kind == "drop":
            del new_ops[i]
            why = f"dropped operation {i + 1} ({ops[i].get('op')})"
        else:
            j = rng.choice([k for k in range(len(ops)) if k != i])
            new_ops.insert(j, new_ops.pop(i))
            why = f"moved operation {i + 1} ({ops[i].get('op')}) to position {j + 1}"
        return {**step, "operations": new_ops}, why
    return None


def _catalogue_models(step: dict[str, Any], context: OperatorContext) -> list[str]:
    slot = provider_slot(str(step.get("type")))
    return sorted({c.model for c in context.catalogue if c.slot == slot} - {step.get("model")})


def _mutate_llm(
    step: dict[str, Any], rng: random.Random, context: OperatorContext
) -> tuple[dict[str, Any], str] | None:
    kinds = ["type"]
    if _catalogue_models(step, context):
        kinds.append("model")
    fields = step_fields(str(step.get("type")))
    if "token_budget" in fields:
        kinds += ["temperature", "max_tokens"]
    if "retry_config" in fields:
        kinds.append("retries")
    kind = rng.choice(kinds)
    if kind == "model":
        model = rng.choice(_catalogue_models(step, context))
        return {**step, "model": model}, f"model {step.get('model')} -> {model}"
    if kind in ("temperature", "max_tokens"):
        budget = dict(step.get("token_budget") or {})
        key, values = (
            ("temperature", library.TEMPERATURES)
            if kind == "temperature"
            else ("max_output_tokens", library.MAX_TOKENS)
        )
        value = rng.choice([v for v in values if v != budget.get(key)])
        budget[key] = value
        return {**step, "token_budget": budget}, f"{key} -> {value}"
    if kind == "retries":
        retry = dict(step.get("retry_config") or {})
        value = rng.choice([v for v in library.MAX_RETRIES if v and v != retry.get("max_retries")])
        retry["max_retries"] = value
        return {**step, "retry_config": retry}, f"max_retries -> {value}"
    current = str(step.get("type"))
    for family in library.STEP_FAMILIES:
        if current in family and len(family) > 1:
            other = rng.choice(sorted(family - {current}))
            kept = {k: v for k, v in step.items() if k not in _TYPE_SPECIFIC}
            return {**kept, "type": other}, f"type {current} -> {other}"
    return None


@register_operator(NAME, 0.5, "change a step's type within its family or one of its parameters")
def step_mutation(genome: Genome, rng: random.Random, context: OperatorContext) -> Genome | None:
    """Mutate one randomly chosen transform or LLM step (see module docs)."""
    steps = steps_of(genome)
    candidates = [i for i, s in enumerate(steps) if is_transform(s) or is_llm_step(s)]
    if not candidates:
        return None
    i = rng.choice(candidates)
    before = steps[i]
    changed = (
        _mutate_transform(before, rng, context.material)
        if is_transform(before)
        else _mutate_llm(before, rng, context)
    )
    if changed is None:
        return None
    steps[i], why = changed
    return with_steps(
        genome,
        steps,
        context.generation,
        operator=NAME,
        target=str(before.get("name")),
        before=before.get("operations", before),
        after=steps[i].get("operations", steps[i]),
        rationale=why,
    )
