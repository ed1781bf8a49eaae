"""The registry of mutation operators (kind ``operator``, group ``evofarm.operators``).

The single source of operator names: the campaign spec's check of
``evolution.operators``, the default operator rates and the engine read it.
Each operator module registers itself with :func:`register_operator` when it
is imported; this module imports none of them itself (the :class:`Registry`
imports :data:`BUILTIN_MODULES` lazily, on the first lookup), so operators
depend on it and not the other way round. A plugin operator is one module
that calls :func:`register_operator`, named by an ``evofarm.operators`` entry
point or in ``EVOFARM_PLUGINS``.

Thread safety: that of :class:`~evofarm.registry.Registry` (one lock).
"""

from __future__ import annotations

from collections.abc import Callable

from evofarm.evolution.operators.base import OperatorFn, OperatorInfo
from evofarm.registry import ExtensionError, Registry

BUILTIN_MODULES = tuple(
    f"evofarm.evolution.operators.{name}"
    for name in (
        "step_mutation",
        "prompt_evolution",
        "provider_optimization",
        "sequence_reshuffle",
        "feature_insertion",
        "step_deletion",
        "reflective_mutation",
        "llm_mutation",
        "llm_crossover",
    )
)
"""Modules that register the built-in operators."""

OPERATORS: Registry[OperatorInfo] = Registry("operator", "evofarm.operators", BUILTIN_MODULES)
"""Operator name -> :class:`OperatorInfo`."""


class OperatorRateError(ExtensionError, ValueError):
    """An operator was registered with a default rate outside [0, 1]."""


def register_operator(
    name: str, rate: float, summary: str, *, needs_evidence: bool = False
) -> Callable[[OperatorFn], OperatorFn]:
    """Decorator registering a mutation operator under ``name``.

    Args:
        name: Unique name campaigns refer to.
        rate: Default probability that an offspring gets this operator.
        summary: One line for help texts and the dashboard.
        needs_evidence: The operator cannot act without the parent's evidence
            (an evaluation); blind draws never include it.

    Raises:
        OperatorRateError: The rate is outside [0, 1] (also a ``ValueError``).
        ExtensionError: The name is taken by another function.
    """
    if not 0.0 <= rate <= 1.0:
        raise OperatorRateError(f"operator {name!r}: rate {rate} is outside [0, 1]")

    def decorate(fn: OperatorFn) -> OperatorFn:
        info = OperatorInfo(name, fn, rate, summary, needs_evidence)
        try:
            OPERATORS.register(name, info)
        except ExtensionError:
            # A module imported twice registers an equal record: not a clash.
            if OPERATORS.get(name) != info:
                raise
        return fn

    return decorate


def registered_operators() -> dict[str, OperatorInfo]:
    """All registered operators by name (the built-in ones and plugins loaded first)."""
    return OPERATORS.items()


def needs_evidence(name: str) -> bool:
    """Whether the operator registered as ``name`` needs the parent's evidence.

    Raises:
        UnknownExtension: No such operator (a ``KeyError``).
    """
    return OPERATORS.get(name).needs_evidence


def get_operator(name: str) -> OperatorInfo:
    """Return the operator registered as ``name``.

    Raises:
        UnknownExtension: No such operator (a ``KeyError``); the message has a
            "did you mean" and lists the known names.
    """
    return OPERATORS.get(name)
