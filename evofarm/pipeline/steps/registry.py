"""Step type name -> implementation: a view of the step-type registry.

An implementation is ``(step, ctx) -> result``: it receives the step model
(templates not yet resolved) and a :class:`~evofarm.pipeline.context.StepContext`,
and returns the step's result (JSON-compatible data). It raises an
:class:`~evofarm.errors.ExecutionError` (usually ``StepFailed``) when the step
fails; the executor records the step name.

Step types are registered with their model in
:data:`~evofarm.pipeline.step_types.STEP_REGISTRY` (see that module). The
functions here look implementations up there and let a test or a plugin swap
the implementation of an existing type. Thread-safe.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from evofarm.errors import StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.schema_base import StepBase
from evofarm.pipeline.step_types import (
    STEP_REGISTRY,
    StepImpl,
    StepType,
    step_type,
)
from evofarm.registry import ExtensionError, UnknownExtension

__all__ = [
    "StepContext",
    "StepImpl",
    "get_step_impl",
    "get_step_type",
    "register_step",
    "registered_types",
    "unregister_step",
]


def register_step(type_name: str, impl: StepImpl, *, replace: bool = False) -> None:
    """Give the registered step type ``type_name`` the implementation ``impl``.

    Raises:
        ExtensionError: the type is not registered (register a
            :class:`~evofarm.pipeline.step_types.StepType` with its model first),
            or it has another implementation and ``replace`` is false.
    """
    try:
        current = step_type(type_name)
    except UnknownExtension as exc:
        raise ExtensionError(
            f"step type {type_name!r} has no model: register a StepType for it"
        ) from exc
    if current.impl is impl:
        return
    if not replace:
        raise ExtensionError(f"step type {type_name!r} already has an implementation")
    STEP_REGISTRY.register(type_name, dataclasses.replace(current, impl=impl), replace=True)


def unregister_step(type_name: str) -> None:
    """Remove a step type (tests); validation then rejects it as unknown."""
    STEP_REGISTRY.unregister(type_name)


def get_step_type(step: StepBase) -> StepType:
    """The registered record of ``step``'s type.

    Raises:
        StepFailed: nothing implements that type in this process.
    """
    try:
        return step_type(step.type)
    except UnknownExtension:
        raise StepFailed(
            f"step type {step.type!r} is not available in this process", step.name
        ) from None


def get_step_impl(step: StepBase) -> Any:
    """The implementation for ``step``'s type (see :func:`get_step_type`)."""
    return get_step_type(step).impl


def registered_types() -> frozenset[str]:
    """Every registered step type."""
    return frozenset(STEP_REGISTRY.names())
