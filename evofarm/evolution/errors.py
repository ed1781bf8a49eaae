"""Errors the evolution engine and selection raise on purpose (all in the ``FarmError`` tree).

Each also derives from the built-in type callers caught before (``ValueError``,
``KeyError``), so existing ``except`` clauses keep working.
"""

from __future__ import annotations

from evofarm.errors import FarmError


class EvolutionError(FarmError):
    """Root of the evolution engine's errors."""


class EngineInputError(EvolutionError, ValueError):
    """The engine was given unusable input (no seeds, an empty population, a bad task)."""


class MissingGenome(EvolutionError, KeyError):
    """A genome or evaluation the engine needs was not provided."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "missing genome"
