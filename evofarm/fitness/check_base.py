"""What every check shares: its base model, what it may read, what it reports.

A check type is a :class:`CheckBase` subclass (the model: its keys) whose
:meth:`CheckBase.test` scores a value (the scorer). The registry of check
types by name is :mod:`evofarm.fitness.check_registry`; the built-in ones are
in :mod:`evofarm.fitness.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from evofarm.fitness.paths import parse_path
from evofarm.providers.base import Provider


@dataclass(frozen=True)
class CheckContext:
    """What a check may need besides the output.

    Attributes:
        inputs: the case's inputs (for the judge prompt).
        judge: the provider ``llm_judge`` checks call; ``None`` when not configured.
        judge_model: model used when an ``llm_judge`` check names none.
        case_id: the case's id.
        genome_id: the genome evaluated (None when the caller did not say).
        sample: which evaluation of the genome this is: 0 for the first,
            1, 2, ... for the resamples ``evolution.noise`` draws. A stochastic
            check keys its randomness on (genome, sample, case) so every sample
            is a new draw that any process reproduces.
    """

    inputs: Mapping[str, Any] = field(default_factory=dict)
    judge: Provider | None = None
    judge_model: str = "haiku"
    case_id: str = ""
    genome_id: str | None = None
    sample: int = 0


class CheckResult(BaseModel):
    """The verdict of one check on one case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    label: str
    required: bool
    passed: bool
    detail: str = ""
    score: float | None = None


class CheckBase(BaseModel):
    """Keys shared by every check."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type: str
    required: bool = False
    path: str | None = None
    label: str | None = None

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str | None) -> str | None:
        parse_path(value)
        return value

    @property
    def display(self) -> str:
        """The name reports use."""
        return self.label or (f"{self.type}@{self.path}" if self.path else self.type)

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        """Judge ``value``: (passed, detail, score or None)."""
        raise NotImplementedError
