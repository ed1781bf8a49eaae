"""Step type name -> implementation.

An implementation is ``(step, ctx) -> result``: it receives the step model
(templates not yet resolved) and a :class:`~evofarm.pipeline.context.StepContext`,
and returns the step's result (JSON-compatible data). It raises an
:class:`~evofarm.errors.ExecutionError` (usually ``StepFailed``) when the step
fails; the executor records the step name.

The built-in families register themselves when first needed; other areas add
types with :func:`register_step` (the fitness area registers
``pipeline_executor``). Registration is thread-safe.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from evofarm.errors import StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.schema import StepBase

StepImpl = Callable[[Any, StepContext], Any]
"""``(step model, context) -> result``."""

_BUILTIN_MODULES = (
    "evofarm.pipeline.steps.llm",
    "evofarm.pipeline.steps.batch",
    "evofarm.pipeline.steps.extract",
    "evofarm.pipeline.steps.control",
    "evofarm.pipeline.steps.for_loop",
    "evofarm.pipeline.steps.data",
    "evofarm.pipeline.steps.files",
    "evofarm.pipeline.steps.nested",
)

_registry: dict[str, StepImpl] = {}
_lock = threading.RLock()
_loaded = False


def register_step(type_name: str, impl: StepImpl, *, replace: bool = False) -> None:
    """Register ``impl`` for steps of ``type_name``.

    Raises:
        ValueError: the type already has an implementation and ``replace`` is false.
    """
    with _lock:
        if type_name in _registry and not replace and _registry[type_name] is not impl:
            raise ValueError(f"step type {type_name!r} already has an implementation")
        _registry[type_name] = impl


def unregister_step(type_name: str) -> None:
    """Remove an implementation (tests)."""
    with _lock:
        _registry.pop(type_name, None)


def _load_builtins() -> None:
    global _loaded  # noqa: PLW0603 - one-time lazy import of the built-in families
    with _lock:
        if _loaded:
            return
        _loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)


def get_step_impl(step: StepBase) -> StepImpl:
    """The implementation for ``step``'s type.

    Raises:
        StepFailed: nothing implements that type in this process.
    """
    _load_builtins()
    with _lock:
        impl = _registry.get(step.type)
    if impl is None:
        raise StepFailed(f"step type {step.type!r} is not available in this process", step.name)
    return impl


def registered_types() -> frozenset[str]:
    """Every step type with an implementation."""
    _load_builtins()
    with _lock:
        return frozenset(_registry)
