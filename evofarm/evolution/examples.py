"""Input/expected-output examples read from a task suite, for data-driven operators.

Operators that draw material from the campaign (:mod:`evofarm.evolution.material`)
or reason from failing cases (:mod:`evofarm.evolution.proposals`) need each case's
inputs and, where the suite states one, the exact text expected. Only the
*training* cases may be passed here: what operators see steers the search, and
held-out cases must stay unseen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from evofarm.fitness.checks import EqualsCheck, OneOfCheck
from evofarm.fitness.suite_models import Case, TaskSuite


def as_text(value: Any) -> str:
    """A JSON value as the text operators compare (strings as they are)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


class Example(BaseModel):
    """One training case as operators see it.

    Attributes:
        case_id: The case id.
        inputs: The case's inputs, as text.
        expected: The exact text the case's first ``equals`` (or ``one_of``)
            check on the final output wants, or ``None`` when it states none.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    inputs: dict[str, str]
    expected: str | None = None


def expected_text(case: Case, suite: TaskSuite) -> str | None:
    """The exact final output ``case`` asks for, if one of its checks states it.

    Required checks are preferred over optional ones; a check on a sub-path of
    the output is no statement about the whole output and is ignored.
    """
    checks = sorted(suite.checks_for(case), key=lambda c: not c.required)
    for check in checks:
        if check.path not in (None, "", "output"):
            continue
        if isinstance(check, EqualsCheck) and isinstance(check.value, str):
            return check.value
        if isinstance(check, OneOfCheck) and isinstance(check.values[0], str):
            return str(check.values[0])
    return None


def examples_of(suite: TaskSuite, case_ids: Iterable[str] | None = None) -> list[Example]:
    """The suite's cases (or those named by ``case_ids``) as examples, by case id."""
    wanted = None if case_ids is None else set(case_ids)
    return [
        Example(
            case_id=case.id,
            inputs=_text_inputs(case.inputs),
            expected=expected_text(case, suite),
        )
        for case in sorted(suite.cases, key=lambda c: c.id)
        if wanted is None or case.id in wanted
    ]


def _text_inputs(inputs: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): as_text(v) for k, v in sorted(inputs.items())}
