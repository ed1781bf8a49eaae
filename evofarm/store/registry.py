"""Store backends by URL scheme: the single source of which stores exist.

A backend registers itself, from inside evofarm or from a user's package, under
one or more URL schemes (kind ``"store"``, entry-point group ``evofarm.stores``;
see :mod:`evofarm.registry`)::

    from evofarm.store.registry import StoreBackend, register_store

    register_store(("sqlite",), StoreBackend(open=SqliteStore.from_url))

Built in: ``redis``, ``rediss`` and ``unix`` open a
:class:`~evofarm.store.redis.RedisStore`; ``memory`` a fresh
:class:`~evofarm.store.memory.MemoryStore` (one process only).

The farm's processes (scheduler, workers, the CLI's farm commands) each open
the store from the same URL, so they need a backend that can be shared across
processes and machines: :func:`open_shared_store` asks for it and refuses one
that is private to a process. Everything else opens any backend with
:func:`open_store`.

Thread safety: registration and lookup are thread-safe (one lock, in
:class:`~evofarm.registry.Registry`); what a factory returns follows its own
backend's contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from evofarm.errors import StoreError
from evofarm.registry import Registry
from evofarm.store.base import PopulationStore, SharedStore

__all__ = [
    "StoreBackend",
    "open_shared_store",
    "open_store",
    "register_store",
    "scheme_of",
    "stores",
]


@dataclass(frozen=True)
class StoreBackend:
    """How to open one kind of store from its URL.

    Attributes:
        open: ``url -> store`` for any use. Raises StoreError if it cannot connect.
        open_shared: ``url -> store`` that every process and machine of a farm
            can reach, with connections to close; None if the backend lives in
            one process only (the farm then refuses it).
    """

    open: Callable[[str], PopulationStore]
    open_shared: Callable[[str], SharedStore] | None = None


stores: Registry[StoreBackend] = Registry(
    "store", "evofarm.stores", builtins=("evofarm.store.memory", "evofarm.store.redis")
)
"""URL scheme -> backend."""


def register_store(schemes: Iterable[str], backend: StoreBackend) -> StoreBackend:
    """Register ``backend`` under every scheme in ``schemes`` and return it.

    Raises:
        ExtensionError: a scheme is empty or taken by another backend.
    """
    for scheme in schemes:
        stores.register(scheme.lower(), backend)
    return backend


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased (``redis://h:6379/0`` -> ``redis``).

    Raises:
        StoreError: ``url`` has no ``SCHEME://`` or ``SCHEME:`` prefix.
    """
    scheme = urlsplit(url.strip()).scheme.lower() if ":" in url else ""
    if not scheme:
        raise StoreError(
            f"store URL {url!r} names no scheme; expected e.g. redis://HOST:PORT/DB "
            f"(known: {', '.join(stores.names())})"
        )
    return scheme


def open_store(url: str) -> PopulationStore:
    """Open the store ``url`` names, with the backend registered for its scheme.

    Raises:
        StoreError: the URL has no scheme, or the backend cannot open it.
        UnknownExtension: no backend is registered for the scheme (the message
            lists the known ones).
    """
    return stores.get(scheme_of(url)).open(url)


def open_shared_store(url: str) -> SharedStore:
    """Open the store ``url`` names as a farm store (reachable by every process).

    Raises:
        StoreError: the URL has no scheme, the backend is private to one process
            (``memory://``), or it cannot open the URL.
        UnknownExtension: no backend is registered for the scheme.
    """
    scheme = scheme_of(url)
    backend = stores.get(scheme)
    if backend.open_shared is None:
        shared = sorted(name for name, b in stores.items().items() if b.open_shared is not None)
        raise StoreError(
            f"a {scheme}:// store lives in one process and cannot hold a farm campaign; "
            f"use one of: {', '.join(shared) or 'none'}"
        )
    return backend.open_shared(url)
