"""Errors the fitness package raises on purpose (all in the ``FarmError`` tree).

Each also derives from the built-in type callers caught before, so existing
``except ValueError`` / ``except TypeError`` clauses keep working. Suite file
problems are :class:`~evofarm.errors.SuiteError` (with a location) instead.
"""

from __future__ import annotations

from evofarm.errors import FarmError


class FitnessError(FarmError):
    """Root of the fitness package's own errors."""


class FitnessInputError(FitnessError, ValueError):
    """A caller passed an unusable argument (a fidelity outside (0, 1], no runner, ...)."""


class BadTrace(FitnessError, TypeError):
    """A case runner returned something that is not a run trace."""
