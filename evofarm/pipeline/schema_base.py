"""The keys every step has (:class:`StepBase`) and the LLM step base (:class:`LLMStep`).

A leaf of the schema: :mod:`evofarm.pipeline.step_types` (the step-type
registry) and every step model build on it, and it imports neither.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from evofarm.pipeline.schema_options import Condition
from evofarm.pipeline.schema_prompts import Prompt, StrictModel


class StepBase(StrictModel):
    """Keys every step has. ``type`` is a ``Literal`` in each step class.

    ``condition`` skips the step when false (for ``while_loop`` it is the loop
    condition, as in pipeline_ex). ``options`` (pipeline_ex's generic step option
    map) is accepted for compatibility and has no effect.
    """

    name: str = Field(min_length=1)
    type: str
    description: str | None = None
    role: str | None = None
    condition: Condition | None = None
    output_to_file: str | None = None
    output_schema: dict[str, Any] | None = None
    options: dict[str, Any] | None = None

    compat_only: ClassVar[frozenset[str]] = frozenset({"options"})
    """Keys accepted for pipeline_ex compatibility that have no effect in evofarm:
    each one set gives a load warning (see :mod:`evofarm.pipeline.compat`)."""


class LLMStep(StepBase):
    """A step that calls an LLM through a provider slot (``claude`` or ``gemini``).

    ``model`` overrides the slot's model (for claude steps it also overrides
    ``claude_options.model``).
    """

    provider_slot: ClassVar[str] = "claude"
    model: str | None = None
    prompt: Prompt | None = None
