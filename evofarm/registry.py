"""One registry per extension kind: the single source of its names.

Every kind of thing a user may add to evofarm (step types, mutation operators,
selection strategies, checks, providers, stores) has exactly one
:class:`Registry`. Adding one is one module that calls ``register`` when it is
imported, from inside evofarm or from the user's own package, with no edit to
evofarm's files. Modules outside evofarm are found in two ways:

* an installed distribution's entry point in the kind's group (for example
  ``[project.entry-points."evofarm.operators"] mine = "mypkg.operators"``):
  the entry point names a module, importing it registers what it holds;
* ``EVOFARM_PLUGINS``, a comma-separated list of modules to import (the farm
  setting; a campaign's own ``plugins:`` list is imported the same way).

A registry imports its built-in modules and then the plugins the first time
anyone asks it for a name, so the order of imports never matters and a
registration is never an accidental side effect of importing something else.

Thread safety: registration and lookup hold one lock per registry; plugin
loading happens once per process.
"""

from __future__ import annotations

import difflib
import importlib
import os
import threading
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from evofarm.errors import FarmError

T = TypeVar("T")

PLUGINS_ENV = "EVOFARM_PLUGINS"
"""Environment variable naming extra modules to import (comma-separated)."""


class ExtensionError(FarmError):
    """An extension could not be registered, loaded or found.

    ``str()`` is one line naming the kind, the name and, for unknown names,
    the known ones with a "did you mean".
    """


class UnknownExtension(ExtensionError, KeyError):
    """No extension of that kind is registered under that name."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        close = difflib.get_close_matches(name, self.known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listing = ", ".join(self.known) or "none"
        self.message = f"unknown {kind} {name!r}{hint}; known: {listing}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


_imported_plugins: set[str] = set()
_plugin_lock = threading.RLock()


def import_plugins(modules: Iterable[str]) -> None:
    """Import each named module once (what ``EVOFARM_PLUGINS`` and ``plugins:`` do).

    Raises:
        ExtensionError: a module cannot be imported; the message names it.
    """
    with _plugin_lock:
        for module in modules:
            name = module.strip()
            if not name or name in _imported_plugins:
                continue
            try:
                importlib.import_module(name)
            except Exception as exc:  # any failure of user code is one clear line
                raise ExtensionError(f"plugin module {name!r} failed to import: {exc}") from exc
            _imported_plugins.add(name)


def env_plugins() -> list[str]:
    """The modules ``EVOFARM_PLUGINS`` names, in order."""
    return [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]


class Registry(Generic[T]):
    """Name -> extension for one kind.

    Args:
        kind: What the registry holds, singular, for messages (``"operator"``).
        group: The entry-point group plugins of this kind are published under.
        builtins: Modules of evofarm that register the built-in extensions.
    """

    def __init__(self, kind: str, group: str, builtins: Iterable[str] = ()) -> None:
        self.kind = kind
        self.group = group
        self._builtins = tuple(builtins)
        self._items: dict[str, T] = {}
        self._lock = threading.RLock()
        self._loaded = False
        self._loading = False

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Register ``item`` as ``name`` and return it (usable as a decorator body).

        Registering the very same object again is a no-op, so a module that is
        imported twice under one name does no harm.

        Raises:
            ExtensionError: ``name`` is empty or already taken by another object
                and ``replace`` is false.
        """
        if not name:
            raise ExtensionError(f"a {self.kind} needs a non-empty name")
        with self._lock:
            current = self._items.get(name)
            if current is not None and current is not item and not replace:
                raise ExtensionError(f"{self.kind} {name!r} is already registered")
            self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove ``name`` if present (tests, or a plugin replacing a built-in)."""
        with self._lock:
            self._items.pop(name, None)

    def get(self, name: str) -> T:
        """The extension registered as ``name``.

        Raises:
            UnknownExtension: nothing is registered as ``name``.
        """
        self.load()
        with self._lock:
            if name in self._items:
                return self._items[name]
            known = list(self._items)
        raise UnknownExtension(self.kind, name, known)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self.load()
        with self._lock:
            return sorted(self._items)

    def items(self) -> dict[str, T]:
        """A snapshot of name -> extension."""
        self.load()
        with self._lock:
            return dict(self._items)

    def __contains__(self, name: object) -> bool:
        self.load()
        with self._lock:
            return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def load(self) -> None:
        """Import the built-in modules, the entry points and ``EVOFARM_PLUGINS`` once.

        Re-entrant: a module being imported may itself look names up.

        Raises:
            ExtensionError: a plugin fails to import.
        """
        with self._lock:
            if self._loaded or self._loading:
                return
            self._loading = True
            try:
                for module in self._builtins:
                    importlib.import_module(module)
                for point in entry_points(group=self.group):
                    try:
                        point.load()
                    except Exception as exc:  # one clear line for a broken plugin
                        raise ExtensionError(
                            f"{self.kind} plugin {point.name!r} ({point.value}) "
                            f"failed to load: {exc}"
                        ) from exc
                import_plugins(env_plugins())
                self._loaded = True
            finally:
                self._loading = False
