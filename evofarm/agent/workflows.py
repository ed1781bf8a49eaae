"""Workflow types of the agent loop: budgets, required gates and proposer instructions.

The design's four workflow types (``feature``, ``bugfix``, ``refactor``,
``security``) each carry a token budget, a time budget, a maximum number of
proposal attempts and the gates a kept candidate must pass. The instruction
given to the proposer depends on the judge's band of the current fitness
(:meth:`~evofarm.fitness.scoring.Thresholds.band`). All of it has defaults
here and can be replaced from a small YAML file (``--config``)::

    workflows:
      bugfix: {token_budget: 50000, time_budget_s: 300, max_iterations: 2,
               required_gates: [no_regression]}
    instructions:
      tune_lightly: "..."

Gates compare the candidate's evaluation with the current one:

* ``no_regression``: every case that passed still passes;
* ``required_checks``: the required-check score (``gates``) does not drop;
* ``efficiency``: the efficiency term does not drop;
* ``all_required``: every required check of every case passes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evofarm.errors import Location, UserInputError
from evofarm.fitness.records import CaseResult, Evaluation
from evofarm.fitness.scoring import Band
from evofarm.pipeline.yaml_source import parse_yaml, read_text

WorkflowType = Literal["feature", "bugfix", "refactor", "security"]
GateName = Literal["no_regression", "required_checks", "efficiency", "all_required"]
#: The bands that ask for a proposal (``log_only`` only logs), mildest first.
STRATEGIES: tuple[Band, ...] = ("tune_lightly", "rewrite", "redesign")


class WorkflowBudget(BaseModel):
    """What one ``evolve`` run of a workflow type may spend, and must pass.

    Attributes:
        token_budget: Tokens (judging + proposing) after which no new attempt starts.
        time_budget_s: Wall seconds after which no new attempt starts.
        max_iterations: Attempts at most (``--attempts`` can only lower it).
        required_gates: Gates a candidate must pass to be kept (besides a higher fitness).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_budget: int = Field(ge=1)
    time_budget_s: float = Field(gt=0)
    max_iterations: int = Field(ge=1, le=50)
    required_gates: tuple[GateName, ...] = ()


DEFAULT_WORKFLOWS: dict[WorkflowType, WorkflowBudget] = {
    "feature": WorkflowBudget(
        token_budget=200_000, time_budget_s=1800, max_iterations=5,
        required_gates=("required_checks",),
    ),
    "bugfix": WorkflowBudget(
        token_budget=100_000, time_budget_s=900, max_iterations=3,
        required_gates=("no_regression", "required_checks"),
    ),
    "refactor": WorkflowBudget(
        token_budget=150_000, time_budget_s=1200, max_iterations=3,
        required_gates=("no_regression", "required_checks", "efficiency"),
    ),
    "security": WorkflowBudget(
        token_budget=250_000, time_budget_s=2400, max_iterations=3,
        required_gates=("no_regression", "all_required"),
    ),
}  # fmt: skip

DEFAULT_INSTRUCTIONS: dict[Band, str] = {
    "tune_lightly": (
        "The pipeline mostly works. Tune it lightly: change one thing only (one prompt's "
        "wording, one operation, one parameter) to fix the failing cases shown, and keep "
        "everything that already passes exactly as it is."
    ),
    "rewrite": (
        "The pipeline fails too many cases. Rewrite the prompt (or the operations) of the "
        "step most responsible for the failures: state the task, the exact output format "
        "and the edge cases the failing inputs show. Keep the other steps."
    ),
    "redesign": (
        "The pipeline is far from the target. Redesign its weakest step (the one whose "
        "output is furthest from what the failing cases expect): you may replace that "
        "step, split it in two or add a step after it. Keep the pipeline's inputs."
    ),
}


class AgentConfig(BaseModel):
    """The workflow budgets and the proposer instruction of each band."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workflows: dict[WorkflowType, WorkflowBudget] = Field(
        default_factory=lambda: dict(DEFAULT_WORKFLOWS)
    )
    instructions: dict[Band, str] = Field(default_factory=lambda: dict(DEFAULT_INSTRUCTIONS))

    def budget(self, workflow: WorkflowType) -> WorkflowBudget:
        """The budget of ``workflow`` (defaults fill types the file leaves out)."""
        return self.workflows.get(workflow, DEFAULT_WORKFLOWS[workflow])

    def instruction(self, band: Band) -> str:
        """The proposer instruction for ``band`` (defaults fill bands the file leaves out)."""
        return self.instructions.get(band) or DEFAULT_INSTRUCTIONS.get(band, "")


def load_agent_config(path: Path | None) -> AgentConfig:
    """The config in ``path`` (YAML), or the defaults when ``path`` is None.

    Raises:
        UserInputError: the file is missing, not YAML, or not a valid config.
    """
    if path is None:
        return AgentConfig()
    text = read_text(path, error=UserInputError)
    data, _ = parse_yaml(text, str(path), error=UserInputError)
    try:
        loaded = AgentConfig.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise UserInputError(first["msg"], Location(file=str(path), key=key)) from None
    # Files name only what they change: merge over the defaults.
    return AgentConfig(
        workflows={**DEFAULT_WORKFLOWS, **loaded.workflows},
        instructions={**DEFAULT_INSTRUCTIONS, **loaded.instructions},
    )


def _passed(case: CaseResult) -> bool:
    return case.ok and case.total_checks > 0 and case.passed_checks == case.total_checks


def _no_regression(before: Evaluation, after: Evaluation) -> bool:
    now = {c.case_id: _passed(c) for c in after.cases}
    return all(now.get(c.case_id, False) for c in before.cases if _passed(c))


def _all_required(_before: Evaluation, after: Evaluation) -> bool:
    return after.gates >= 1.0


GATES: dict[GateName, Callable[[Evaluation, Evaluation], bool]] = {
    "no_regression": _no_regression,
    "required_checks": lambda before, after: after.gates >= before.gates,
    "efficiency": lambda before, after: after.efficiency >= before.efficiency,
    "all_required": _all_required,
}


def failed_gates(
    gates: tuple[GateName, ...], before: Evaluation, after: Evaluation
) -> list[GateName]:
    """The gates in ``gates`` that ``after`` fails against ``before`` (empty: all pass)."""
    return [g for g in gates if not GATES[g](before, after)]
