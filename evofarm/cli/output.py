"""Turning errors into one clear line: the user never sees a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from evofarm.errors import FarmError, UserInputError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_FAILURE = 1
EXIT_USER_INPUT = 2


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    """Print ``message`` on stderr and return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so any FarmError becomes one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except UserInputError as exc:
            raise fail(str(exc), EXIT_USER_INPUT) from None
        except FarmError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper
