"""Custom check predicates: a name -> function registry and allow-listed imports.

A suite never carries code. It names a predicate (``type: custom, name: X``)
and, when the predicate is not built in, a module to import that registers it
with :func:`register_check`. Only modules under an allow-listed package may be
imported this way (:data:`ALLOWED_PACKAGES`, extendable with
:func:`allow_predicate_package`), so a suite file cannot make a worker import
arbitrary code.

A predicate is ``fn(value, params) -> bool | tuple[bool, str]``: ``value`` is
the selected output, ``params`` the check's ``params`` mapping; the optional
string is a detail for the report. The registry (:data:`PREDICATES`, kind
``custom predicate``, a :class:`~evofarm.registry.Registry`) is process-global
and thread-safe; registering a name twice with a different function is an error,
because two suites silently sharing a name would score differently depending
on import order.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from evofarm.fitness.errors import FitnessError
from evofarm.registry import ExtensionError, Registry, UnknownExtension

Predicate = Callable[[Any, Mapping[str, Any]], "bool | tuple[bool, str]"]

#: Packages whose modules a suite may name for its predicates.
ALLOWED_PACKAGES: list[str] = ["evofarm.fitness.predicates"]

PREDICATES: Registry[Predicate] = Registry("custom predicate", "evofarm.checks")
"""Predicate name -> function (no built-ins load implicitly: a suite names its module)."""

_lock = threading.Lock()  # guards ALLOWED_PACKAGES


class PredicateError(FitnessError, ValueError):
    """A predicate name or module is unknown or not allowed."""


def register_check(name: str) -> Callable[[Predicate], Predicate]:
    """Decorator registering ``fn`` as the custom check ``name``.

    Raises:
        PredicateError: ``name`` is already registered to another function.
    """

    def decorate(fn: Predicate) -> Predicate:
        try:
            PREDICATES.register(name, fn)
        except ExtensionError:
            existing = PREDICATES.get(name)
            qual = getattr(existing, "__qualname__", repr(existing))
            raise PredicateError(f"custom check {name!r} is already registered ({qual})") from None
        return fn

    return decorate


def get_predicate(name: str) -> Predicate:
    """The predicate registered as ``name``.

    Raises:
        PredicateError: nothing is registered under ``name``.
    """
    try:
        return PREDICATES.get(name)
    except UnknownExtension as exc:
        raise PredicateError(
            f"no custom check named {name!r}; registered: {', '.join(exc.known) or 'none'}"
        ) from None


def registered_names() -> list[str]:
    """The names registered so far, sorted."""
    return PREDICATES.names()


def allow_predicate_package(prefix: str) -> None:
    """Allow suites to import predicate modules under the package ``prefix``."""
    with _lock:
        if prefix not in ALLOWED_PACKAGES:
            ALLOWED_PACKAGES.append(prefix)


def _allowed(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in ALLOWED_PACKAGES)


def import_predicates(module: str) -> None:
    """Import ``module`` so that it registers its predicates.

    A bare name (``text``) means ``evofarm.fitness.predicates.text``.

    Raises:
        PredicateError: the module is outside the allow-list or cannot be imported.
    """
    full = module if "." in module else f"evofarm.fitness.predicates.{module}"
    if not _allowed(full):
        raise PredicateError(
            f"predicate module {full!r} is not under an allowed package "
            f"({', '.join(ALLOWED_PACKAGES)})"
        )
    try:
        importlib.import_module(full)
    except ImportError as exc:
        raise PredicateError(f"cannot import predicate module {full!r}: {exc}") from exc
