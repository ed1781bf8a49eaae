"""The registry of selection strategies (kind ``selection strategy``, group ``evofarm.selection``).

The single source of the names ``evolution.selection`` accepts: the campaign
spec validates against it and the engine looks the campaign's strategy up in
it. Each strategy module registers an instance of its class with
:func:`register_selection` when imported; this module imports none of them
(the :class:`~evofarm.registry.Registry` imports :data:`BUILTIN_MODULES` on the
first lookup). A plugin strategy is one module subclassing
:class:`~evofarm.evolution.selection.strategy.SelectionStrategy` and
decorating it, named by an ``evofarm.selection`` entry point or in
``EVOFARM_PLUGINS``.

Thread safety: that of :class:`~evofarm.registry.Registry`; registered
strategies are stateless and shared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from evofarm.evolution.selection.strategy import SelectionStrategy
from evofarm.registry import ExtensionError, Registry

S = TypeVar("S", bound=type[SelectionStrategy])

BUILTIN_MODULES = tuple(
    f"evofarm.evolution.selection.{name}"
    for name in (
        "tournament",
        "mu_plus_lambda",
        "mu_comma_lambda",
        "nsga2",
        "random_search",
        "islands",
    )
)
"""Modules that register the built-in strategies."""

SELECTION_STRATEGIES: Registry[SelectionStrategy] = Registry(
    "selection strategy", "evofarm.selection", BUILTIN_MODULES
)
"""Strategy name -> the (stateless, shared) strategy instance."""


def register_selection(name: str) -> Callable[[S], S]:
    """Class decorator: register an instance of the class as the strategy ``name``.

    Sets the class's ``name`` and returns the class unchanged otherwise.

    Raises:
        ExtensionError: ``name`` is empty or taken by another strategy class.
    """

    def decorate(cls: S) -> S:
        cls.name = name
        try:
            SELECTION_STRATEGIES.register(name, cls())
        except ExtensionError:
            # The same module imported twice defines an equal class: not a clash.
            current = type(SELECTION_STRATEGIES.get(name))
            if (current.__module__, current.__qualname__) != (cls.__module__, cls.__qualname__):
                raise
        return cls

    return decorate


def get_strategy(name: str) -> SelectionStrategy:
    """The strategy registered as ``name``.

    Raises:
        UnknownExtension: no such strategy (a ``KeyError``; "did you mean" and
            the known names in the message).
    """
    return SELECTION_STRATEGIES.get(name)
