"""The nursery: staged, multi-fidelity evaluation of new offspring (``evolution.nursery``).

A generation's new children are first evaluated on a small share of the cases
(stage 1's ``fraction`` of the campaign's fidelity); the best ``promote`` share
of them go on to stage 2, and so on; those promoted from the last stage get the
full evaluation and enter selection. The rest are *culled*: they never compete
with fully evaluated genomes (a score on five cases is not comparable with one
on twenty-four), and :func:`~evofarm.evolution.engine.select` counts them.

Contract:

* Stage subsets are nested (:func:`~evofarm.fitness.runner.select_cases`
  keeps the cases with the smallest hashes), so a later stage runs only the
  cases an earlier one did not: partial evaluations are reused, never repeated
  (:func:`evofarm.fitness.runner.evaluate_pipeline`'s ``reuse``). A culled
  genome bred again later keeps its partial evaluation.
* Promotion ranks the cohort by the partial evaluation with the campaign's
  ``by_fitness`` key (fitness, similarity, size, id) and keeps
  ``max(1, ceil(promote * n))``; ties break by id, so it is deterministic and
  independent of the order evaluations finished in.
* Pure: this module decides, the loop (or a scheduler hook) evaluates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evofarm.evolution.selection.base import Member, by_fitness


class NurseryStage(BaseModel):
    """One nursery stage.

    Attributes:
        fraction: Share of the campaign's cases this stage has run (cumulative).
        promote: Share of the stage's cohort promoted to the next stage.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fraction: float = Field(gt=0, lt=1)
    promote: float = Field(gt=0, le=1)


class NurseryConfig(BaseModel):
    """``evolution.nursery``: the stages before full evaluation.

    Attributes:
        stages: In increasing ``fraction`` order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stages: list[NurseryStage] = Field(min_length=1, max_length=8)

    @field_validator("stages")
    @classmethod
    def _increasing(cls, value: list[NurseryStage]) -> list[NurseryStage]:
        if any(b.fraction <= a.fraction for a, b in pairwise(value)):
            raise ValueError("stage fractions must increase")
        return value

    def fidelities(self, full: float) -> list[float]:
        """Each stage's fidelity for a campaign evaluated at ``full``."""
        return [round(stage.fraction * full, 9) for stage in self.stages]


def promoted(cohort: Sequence[Member], promote: float) -> list[str]:
    """The ids of the best ``max(1, ceil(promote * n))`` of ``cohort``, best first."""
    if not cohort:
        return []
    keep = max(1, math.ceil(promote * len(cohort) - 1e-9))
    return [m.id for m in sorted(cohort, key=by_fitness)[:keep]]


def culled(cohort: Sequence[str], survivors: Mapping[str, object]) -> list[str]:
    """The ids of ``cohort`` that did not reach full evaluation, sorted."""
    return sorted(i for i in set(cohort) if i not in survivors)
