"""``break`` and ``continue``: pipeline_ex's loop control steps.

Inside a ``for_loop`` or ``while_loop`` body, ``break`` ends the innermost loop
and ``continue`` skips the rest of the current iteration (a ``condition`` on
either makes it conditional, as a false condition skips any step). The step
raises :class:`LoopSignal`, which the loop catches; the executor lets it pass
through every step between (it is never recorded as a failure or swallowed by
``continue_on_error``). Validation refuses both outside a loop body, and if one
escapes anyway (a pipeline built without validation) it is an ordinary step
failure, because :class:`LoopSignal` is a :class:`~evofarm.errors.StepFailed`.

Results: a broken iteration is a successful one (its results are those of the
steps that ran); a ``for_loop`` result then ends with that iteration, a
``while_loop`` result has ``"broken": true``.
"""

from __future__ import annotations

from typing import Any, Literal, NoReturn

from evofarm.errors import StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.schema import BreakStep, ContinueStep
from evofarm.pipeline.schema_steps import LOOP_CONTROL_TYPES
from evofarm.pipeline.step_types import StepType, register_step_type


class LoopSignal(StepFailed):
    """Raised by ``break``/``continue``; caught by the innermost loop."""

    def __init__(self, kind: Literal["break", "continue"], step: str) -> None:
        self.kind = kind
        super().__init__(f"'{kind}' outside a loop", step)


def _signal(kind: Literal["break", "continue"], step: Any) -> NoReturn:
    raise LoopSignal(kind, step.name)


def break_step(step: BreakStep, ctx: StepContext) -> Any:
    """End the innermost loop (raises :class:`LoopSignal`)."""
    del ctx
    _signal("break", step)


def continue_step(step: ContinueStep, ctx: StepContext) -> Any:
    """Skip the rest of this iteration (raises :class:`LoopSignal`)."""
    del ctx
    _signal("continue", step)


register_step_type(StepType("break", BreakStep, break_step, inline=True))
register_step_type(StepType("continue", ContinueStep, continue_step, inline=True))

__all__ = ["LOOP_CONTROL_TYPES", "LoopSignal", "break_step", "continue_step"]
