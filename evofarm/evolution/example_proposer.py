"""The offline proposer: reflective, example-driven mutation of transform steps.

The counterpart of the LLM proposer for pipelines made of ``transform`` steps,
implementing :class:`~evofarm.evolution.proposals.Proposer`. From the parent's
evidence (inputs, actual and expected output of a few training cases) it
proposes operations that close the difference
(:func:`~evofarm.evolution.synthesis.synthesize`):

* when the final step is a ``transform``, its result is the output, so the
  operations found for (actual, expected) are appended to it; when they leave
  cases failing and every expected output re-cases one run of words while
  keeping others (:mod:`~evofarm.evolution.pieces`), that run is computed by a
  copy of the step and a new final step combines it with the output, if that
  fits more cases;
* otherwise, transform steps that read only the inputs are simulated on the
  cases (their operations are pure), and the step whose output, after a
  proposed operation, appears inside more expected outputs gets it; failing
  that, a new final ``transform`` step reading the last step is added.

Deterministic: a pure function of the parent, the evidence and the rng.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evofarm.errors import FarmError
from evofarm.evolution.genome import Genome
from evofarm.evolution.operators.common import fresh_name, is_transform
from evofarm.evolution.pieces import cased_piece
from evofarm.evolution.proposals import CaseEvidence, Evidence
from evofarm.evolution.synthesis import (
    GENERIC,
    Op,
    literal_candidates,
    run_op,
    run_op_on_each,
    synthesize,
)
from evofarm.pipeline.loader import pipeline_from_data
from evofarm.pipeline.schema import Pipeline

if TYPE_CHECKING:
    from evofarm.evolution.operators.base import OperatorContext

_INPUT_TEMPLATE = re.compile(r"\{\{\s*inputs\.([A-Za-z_][\w-]*)\s*\}\}")
_ANY_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
#: Operations tried in a row on one simulated step.
STEP_DEPTH = 2


def _usable(evidence: Evidence) -> list[CaseEvidence]:
    return [c for c in evidence.cases if c.expected is not None and not c.truncated]


def _render_inputs(template: str, inputs: dict[str, str]) -> str | None:
    """``template`` with its ``{{inputs.x}}`` filled, or None if it has other templates."""
    if _ANY_TEMPLATE.search(_INPUT_TEMPLATE.sub("", template)):
        return None
    missing = [m for m in _INPUT_TEMPLATE.findall(template) if m not in inputs]
    if missing:
        return None
    return _INPUT_TEMPLATE.sub(lambda m: inputs[m.group(1)], template)


def _simulate(step: dict[str, Any], case: CaseEvidence) -> Any:
    source = step.get("input")
    if not isinstance(source, str):
        return None
    value: Any = _render_inputs(source, case.inputs)
    for op in step.get("operations", []):
        value = run_op(value, dict(op))
    return value


def _contained(values: Sequence[Any], cases: Sequence[CaseEvidence]) -> tuple[int, int]:
    """(outputs found inside their expected output, their total length).

    The length prefers the longer of two fits: ``"x-1"`` over ``"1"`` in ``"Ada x-1"``.
    """
    fits = [
        len(v)
        for v, c in zip(values, cases, strict=True)
        if isinstance(v, str) and v and c.expected is not None and v in c.expected
    ]
    return len(fits), sum(fits)


def _step_candidates(cases: Sequence[CaseEvidence]) -> list[Op]:
    found: dict[str, Op] = {json.dumps(op, sort_keys=True): op for op in GENERIC}
    for case in cases[:3]:
        if case.passed or case.expected is None:
            continue
        for op in literal_candidates(case.actual, case.expected):
            if op["op"] == "replace":
                found.setdefault(json.dumps(op, sort_keys=True), op)
    return list(found.values())


def _improve_step(
    step: dict[str, Any], cases: Sequence[CaseEvidence], candidates: Sequence[Op]
) -> tuple[tuple[int, int], list[Op]]:
    """(gain, ops): operations making this step's output fit more (or longer) expected parts."""
    values = [_simulate(step, c) for c in cases]
    if any(v is None for v in values):
        return (0, 0), []
    start = best = _contained(values, cases)
    chosen: list[Op] = []
    for _ in range(STEP_DEPTH):
        top: tuple[tuple[int, int], Op, list[Any]] | None = None
        for op in candidates:
            new_values = run_op_on_each(values, op)
            if any(v is None for v in new_values):
                continue
            score = _contained(new_values, cases)
            # A fit may only grow: more outputs inside their expected text, or longer ones.
            if score[0] >= best[0] and score > (top[0] if top else best):
                top = (score, op, new_values)
        if top is None:
            break
        best, op, values = top[0], top[1], top[2]
        chosen.append(op)
    return (best[0] - start[0], best[1] - start[1]), chosen


class ExampleProposer:
    """Proposes transform operations from failing examples (see module docs)."""

    def __call__(
        self,
        parent: Genome,
        evidence: Evidence,
        rng: random.Random,
        context: OperatorContext,
    ) -> Pipeline | None:
        cases = _usable(evidence)
        if not any(not c.passed for c in cases):
            return None
        steps: list[dict[str, Any]] = copy.deepcopy(list(parent.pipeline.get("steps", [])))
        if not steps:
            return None
        new_steps = (
            self._extend_last(steps, cases, rng, context)
            if is_transform(steps[-1])
            else self._fix_a_step(steps, cases, rng) or self._new_last(steps, cases, rng, context)
        )
        if new_steps is None:
            return None
        try:
            return pipeline_from_data({**parent.pipeline, "steps": new_steps}, "<proposal>")
        except FarmError:
            return None

    @staticmethod
    def _extend_last(
        steps: list[dict[str, Any]],
        cases: Sequence[CaseEvidence],
        rng: random.Random,
        context: OperatorContext,
    ) -> list[dict[str, Any]] | None:
        pairs = [(c.actual, c.expected or "") for c in cases]
        ops = synthesize(pairs, rng)
        fitted = _fits(ops, pairs)
        if fitted < len(pairs) and len(steps) + 2 <= context.max_steps:
            split = _with_cased_piece(steps, pairs, rng)
            if split is not None and split[0] > fitted:
                return split[1]
        if not ops:
            return None
        last = steps[-1]
        steps[-1] = {**last, "operations": [*last["operations"], *ops]}
        return steps

    @staticmethod
    def _fix_a_step(
        steps: list[dict[str, Any]], cases: Sequence[CaseEvidence], rng: random.Random
    ) -> list[dict[str, Any]] | None:
        candidates = _step_candidates(cases)
        options: list[tuple[tuple[int, int], int, list[Op]]] = []
        for i, step in enumerate(steps):
            if is_transform(step):
                gain, ops = _improve_step(step, cases, candidates)
                if ops and gain > (0, 0):
                    options.append((gain, i, ops))
        if not options:
            return None
        top = max(gain for gain, _, _ in options)
        _, i, ops = rng.choice([o for o in options if o[0] == top])
        steps[i] = {**steps[i], "operations": [*steps[i]["operations"], *ops]}
        return steps

    @staticmethod
    def _new_last(
        steps: list[dict[str, Any]],
        cases: Sequence[CaseEvidence],
        rng: random.Random,
        context: OperatorContext,
    ) -> list[dict[str, Any]] | None:
        if len(steps) >= context.max_steps:
            return None
        ops = synthesize([(c.actual, c.expected or "") for c in cases], rng)
        if not ops:
            return None
        last = str(steps[-1].get("name"))
        name = fresh_name("finish", {str(s.get("name")) for s in steps})
        step = {
            "name": name,
            "type": "transform",
            "input": "{{steps." + last + ".result}}",
            "operations": ops,
        }
        return [*steps, step]


def _fits(ops: Sequence[Op], pairs: Sequence[tuple[str, str]]) -> int:
    """How many pairs ``ops`` maps from actual to expected exactly."""
    fitted = 0
    for actual, expected in pairs:
        value: Any = actual
        for op in ops:
            value = run_op(value, op)
        fitted += value == expected
    return fitted


def _with_cased_piece(
    steps: list[dict[str, Any]], pairs: Sequence[tuple[str, str]], rng: random.Random
) -> tuple[int, list[dict[str, Any]]] | None:
    """(pairs fitted, steps): the re-cased part computed apart, then combined.

    When every expected output re-cases one run of the last step's words and
    keeps others (:func:`~evofarm.evolution.pieces.cased_piece`), a copy of
    the last step is extended to produce that run alone, and a new final step
    reads ``"<run> <last output>"`` and is given the operations that lay the
    two out as expected. None unless the run is produced exactly for every
    pair.
    """
    pieces = [cased_piece(actual, expected) for actual, expected in pairs]
    if any(p is None for p in pieces):
        return None
    piece_pairs = [(a, p or "") for (a, _), p in zip(pairs, pieces, strict=True)]
    piece_ops = synthesize(piece_pairs, rng)
    if not piece_ops or _fits(piece_ops, piece_pairs) < len(pairs):
        return None
    combined = [(f"{p} {a}", e) for (a, e), p in zip(pairs, pieces, strict=True)]
    final_ops = synthesize(combined, rng)
    if not final_ops:
        return None
    last = steps[-1]
    taken = {str(s.get("name")) for s in steps}
    part = fresh_name("part", taken)
    final = fresh_name("finish", taken | {part})
    part_step = {**last, "name": part, "operations": [*last["operations"], *piece_ops]}
    final_step = {
        "name": final,
        "type": "transform",
        "input": "{{steps." + part + ".result}} {{steps." + str(last.get("name")) + ".result}}",
        "operations": final_ops,
    }
    return _fits(final_ops, combined), [*steps[:-1], part_step, last, final_step]
