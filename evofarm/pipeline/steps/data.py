"""Data steps: ``data_transform``, ``transform`` and ``python``.

``data_transform`` reads ``input_source`` (``previous_response:STEP[:path|.path]``,
a step or variable name, a template, or inline data) and applies its operations
in order:

- ``filter``: keep items for which ``condition`` holds; the item's fields are
  bare names in the condition (``status == 'completed'``, ``total > 100``);
- ``map``: replace ``field`` through ``mapping`` (by the value's text), or set it
  to ``expression`` evaluated with the item's fields;
- ``aggregate``: ``function`` (sum, average, min, max, count, count_distinct,
  first, last, unique, std_dev, variance) over ``field`` of the items (or the
  items themselves); with ``group_by``, one aggregate per group;
- ``join``: add the fields of the ``right_source`` item whose ``join_key`` equals
  the item's ``left_field`` (``join_type`` inner, the default, drops unmatched
  items; left/outer keep them);
- ``group_by``: ``{value of field: [items]}``; ``sort``: by ``field``/``by``,
  ``order`` asc/desc; ``unique``: drop duplicates (by ``field`` if given);
  ``flatten``: one level of nested lists.

The result is the transformed data (``output_format`` json/string/count
converts it). ``output_field`` also names the result, as pipeline_ex does:
later steps may refer to ``previous_response:OUTPUT_FIELD``.

``transform`` folds its resolved ``input`` through evofarm's fixed operation
library (:func:`evofarm.pipeline.transform_ops.apply_operations`).

``python`` hands ``code`` and its resolved ``input`` to ``runtime.python_runner``
(the sandbox provides one); without a runner the step fails.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from typing import Any, Final

from evofarm.errors import StepFailed
from evofarm.pipeline import conditions
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.expressions import ExpressionError, unresolved_reference
from evofarm.pipeline.expressions import evaluate as evaluate_expression
from evofarm.pipeline.schema import DataOperation, DataTransformStep, PythonStep, TransformStep
from evofarm.pipeline.scope import MISSING, Scope, StepRecord, get_path
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.pipeline.steps.control import resolve_source
from evofarm.pipeline.templates import to_text
from evofarm.pipeline.transform_ops import apply_operations

_TYPE_RANK: Final = {type(None): 0, bool: 1, int: 2, float: 2, str: 3}


def _field(item: Any, path: str | None) -> Any:
    if path is None:
        return item
    value = get_path(item, path.split("."))
    return None if value is MISSING else value


def _item_scope(item: Any, ctx: StepContext) -> Scope:
    fields = dict(item) if isinstance(item, dict) else {"item": item, "value": item}
    return Scope(
        inputs=ctx.frame.inputs,
        global_vars=ctx.frame.global_vars,
        variables=fields,
        steps=ctx.frame.records,
    )


def _items(data: Any, op: str) -> list[Any]:
    if isinstance(data, list):
        return data
    raise StepFailed(f"operation {op!r} needs a list, got {type(data).__name__}")


def _filter(data: Any, op: DataOperation, ctx: StepContext) -> Any:
    return [
        item
        for item in _items(data, "filter")
        if conditions.evaluate(op.condition, _item_scope(item, ctx))
    ]


def _set_field(item: Any, path: str, value: Any) -> Any:
    if not isinstance(item, dict):
        return value
    keys = path.split(".")
    updated = dict(item)
    target = updated
    for key in keys[:-1]:
        inner = target.get(key)
        target[key] = dict(inner) if isinstance(inner, dict) else {}
        target = target[key]
    target[keys[-1]] = value
    return updated


def _map(data: Any, op: DataOperation, ctx: StepContext) -> Any:
    def one(item: Any) -> Any:
        path = op.field or "value"
        if op.mapping is not None:
            current = _field(item, op.field)
            key = to_text(current)
            return _set_field(item, path, op.mapping.get(key, current))
        assert op.expression is not None  # the schema requires mapping or expression
        try:
            value = evaluate_expression(op.expression, _item_scope(item, ctx))
        except ExpressionError as exc:
            raise StepFailed(f"map expression {op.expression!r}: {exc}") from None
        return _set_field(item, path, None if unresolved_reference(value) else value)

    return [one(item) for item in _items(data, "map")]


def _numbers(values: list[Any], function: str) -> list[float]:
    numbers = []
    for raw in values:
        number: float
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise StepFailed(f"aggregate {function!r}: {raw!r} is not a number") from None
        else:
            number = raw
        if not math.isfinite(number):
            raise StepFailed(f"aggregate {function!r}: {raw!r} is not finite")
        numbers.append(number)
    return numbers


def _unique(values: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for value in values:
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


_AGGREGATES: Final[dict[str, Callable[[list[Any]], Any]]] = {
    "sum": lambda v: sum(_numbers(v, "sum")),
    "average": lambda v: statistics.fmean(_numbers(v, "average")) if v else None,
    "min": lambda v: min(_numbers(v, "min")) if v else None,
    "max": lambda v: max(_numbers(v, "max")) if v else None,
    "count": len,
    "count_distinct": lambda v: len(_unique(v)),
    "first": lambda v: v[0] if v else None,
    "last": lambda v: v[-1] if v else None,
    "unique": _unique,
    "std_dev": lambda v: statistics.pstdev(_numbers(v, "std_dev")) if v else None,
    "variance": lambda v: statistics.pvariance(_numbers(v, "variance")) if v else None,
}


def _aggregate(data: Any, op: DataOperation, ctx: StepContext) -> Any:
    assert op.function is not None  # the schema requires it
    function = _AGGREGATES[op.function]
    items = _items(data, "aggregate")
    if op.group_by is None:
        return function([_field(item, op.field) for item in items])
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(to_text(_field(item, op.group_by)), []).append(_field(item, op.field))
    return {key: function(values) for key, values in groups.items()}


def _join(data: Any, op: DataOperation, ctx: StepContext) -> Any:
    right = resolve_source(op.right_source, ctx, "right_source")
    if not isinstance(right, list):
        raise StepFailed(f"join right_source must be a list, got {type(right).__name__}")
    assert op.join_key is not None  # the schema requires it
    left_field = op.left_field or op.join_key
    index: dict[str, dict[str, Any]] = {}
    for item in right:
        if isinstance(item, dict):
            index.setdefault(to_text(_field(item, op.join_key)), item)
    joined = []
    for item in _items(data, "join"):
        match = index.get(to_text(_field(item, left_field)))
        if match is not None and isinstance(item, dict):
            joined.append({**match, **item})
        elif op.join_type in ("left", "outer"):
            joined.append(item)
    return joined


def _group_by(data: Any, op: DataOperation, ctx: StepContext) -> Any:
    groups: dict[str, list[Any]] = {}
    for item in _items(data, "group_by"):
        groups.setdefault(to_text(_field(item, op.field)), []).append(item)
    return groups


def _sort_key(value: Any) -> tuple[int, Any]:
    rank = _TYPE_RANK.get(type(value), 4)
    return (rank, value if rank < 4 else json.dumps(value, sort_keys=True, default=str))


def _sort(data: Any, op: DataOperation, ctx: StepContext) -> Any:
    path = op.field or op.by
    return sorted(
        _items(data, "sort"),
        key=lambda item: _sort_key(_field(item, path)),
        reverse=op.order == "desc",
    )


def _unique_op(data: Any, op: DataOperation, ctx: StepContext) -> Any:
    items = _items(data, "unique")
    if op.field is None:
        return _unique(items)
    seen: set[str] = set()
    out = []
    for item in items:
        key = json.dumps(_field(item, op.field), sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _flatten(data: Any, op: DataOperation, ctx: StepContext) -> Any:
    out: list[Any] = []
    for item in _items(data, "flatten"):
        out.extend(item if isinstance(item, list) else [item])
    return out


_OPERATIONS: Final[dict[str, Callable[[Any, DataOperation, StepContext], Any]]] = {
    "filter": _filter,
    "map": _map,
    "aggregate": _aggregate,
    "join": _join,
    "group_by": _group_by,
    "sort": _sort,
    "unique": _unique_op,
    "flatten": _flatten,
}


def data_transform(step: DataTransformStep, ctx: StepContext) -> Any:
    """Apply the operations to the input (see the module docstring)."""
    data = resolve_source(step.input_source, ctx, "input_source")
    for position, op in enumerate(step.operations, start=1):
        try:
            data = _OPERATIONS[op.operation](data, op, ctx)
        except StepFailed as exc:
            raise StepFailed(f"operation {position} ({op.operation}): {exc.message}") from None
    if step.output_format == "json":
        data = json.dumps(data, default=str)
    elif step.output_format == "string":
        data = to_text(data)
    elif step.output_format == "count":
        data = len(data) if isinstance(data, list) else 1
    if step.output_field and step.output_field != step.name:
        ctx.frame.records[step.output_field] = StepRecord(data)
    return data


def transform(step: TransformStep, ctx: StepContext) -> Any:
    """Fold the resolved ``input`` through the operation list."""
    return apply_operations(ctx.resolve(step.input), list(step.operations))


def python(step: PythonStep, ctx: StepContext) -> Any:
    """Run ``code`` on the resolved ``input`` with the runtime's python runner."""
    runner = ctx.runtime.python_runner
    if runner is None:
        raise StepFailed(
            "python steps need a sandboxed runner and none is configured "
            "(run through the sandbox, e.g. `evofarm pipeline run --sandbox`)"
        )
    return runner(step.code, ctx.resolve(step.input))


register_step_type(StepType("data_transform", DataTransformStep, data_transform, inline=True))
register_step_type(StepType("transform", TransformStep, transform, inline=True))
register_step_type(StepType("python", PythonStep, python))
