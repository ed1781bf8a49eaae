"""Errors the suite models raise while validating (before the loader locates them)."""

from __future__ import annotations

from evofarm.fitness.errors import FitnessError


class LocatedValueError(FitnessError, ValueError):
    """A validation problem that knows the key path it belongs to.

    Model-level validators raise it so that file loaders can still point at
    the line of the offending key (pydantic keeps it in the error's ``ctx``).
    """

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        super().__init__(f"{'.'.join(map(str, path))}: {message}")


class UnknownCase(FitnessError, KeyError):
    """A suite has no case with that id (a ``KeyError`` for older callers)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return f"no case {self.args[0]!r} in the suite"
