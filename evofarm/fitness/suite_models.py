"""Task suites: the cases a candidate pipeline is run on and the checks that judge it.

A :class:`TaskSuite` is plain validated data (JSON round trip), so the farm can
ship it to workers. Its :attr:`TaskSuite.id` is a hash of its content: the
same suite loaded from YAML or JSONL, on any machine, has the same id, and an
edited suite gets a new one (so old evaluations are never mixed with new).

Reading suite files lives in :mod:`evofarm.fitness.suite`, which re-exports these models.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evofarm.fitness.check_base import CheckBase
from evofarm.fitness.check_registry import Check
from evofarm.fitness.checks import CustomCheck
from evofarm.fitness.predicates import PredicateError, import_predicates, registered_names
from evofarm.fitness.suite_errors import LocatedValueError, UnknownCase


class Budgets(BaseModel):
    """Per-case budgets the efficiency term is measured against (``None``: no budget)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens_per_case: int | None = Field(default=None, ge=1)
    time_ms_per_case: float | None = Field(default=None, gt=0)


def _case_id(data: dict[str, Any]) -> str:
    payload = json.dumps(
        {"inputs": data.get("inputs", {}), "checks": data.get("checks", [])},
        sort_keys=True,
        default=str,
    )
    return "c-" + hashlib.sha256(payload.encode()).hexdigest()[:12]


class Case(BaseModel):
    """One test case: inputs for the pipeline and checks on what it produced.

    ``id`` defaults to a hash of the inputs and checks, so it is stable across
    reorderings of the file; ``weight`` scales the case in every average.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    description: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    weight: float = Field(default=1.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("id") is None:
            data = {**data, "id": _case_id(data)}
        return data


class Split(BaseModel):
    """A held-out split drawn from the suite's cases.

    ``validation`` is the share of cases held out (at least one case on each
    side); ``seed`` fixes which: the same suite and seed hold out the same
    cases on every machine.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    validation: float = Field(gt=0, lt=1)
    seed: int = 0


def unknown_custom_checks(suite: TaskSuite) -> list[tuple[tuple[str | int, ...], str]]:
    """Custom checks naming no registered predicate, as (key path, message) pairs."""
    known = set(registered_names())
    problems: list[tuple[tuple[str | int, ...], str]] = []

    def scan(checks: list[CheckBase], prefix: tuple[str | int, ...]) -> None:
        for j, check in enumerate(checks):
            if isinstance(check, CustomCheck) and check.name not in known:
                problems.append(
                    (
                        (*prefix, j, "name"),
                        f"no custom check named {check.name!r}; registered: "
                        f"{', '.join(sorted(known)) or 'none'} (is 'predicates' set?)",
                    )
                )

    scan(list(suite.required_checks), ("required_checks",))
    for i, case in enumerate(suite.cases):
        scan(list(case.checks), ("cases", i, "checks"))
    return problems


class TaskSuite(BaseModel):
    """A named set of cases with budgets and suite-wide required checks.

    Attributes:
        name: the suite's name (campaigns refer to suites by file).
        predicates: module registering this suite's custom predicates
            (allow-listed, see :mod:`evofarm.fitness.predicates`); imported
            when the suite is validated.
        budgets: per-case tokens and time for the efficiency term.
        required_checks: checks applied to every case, always gates
            (``required`` is forced true).
        cases: at least one; ids unique; every case has at least one check
            counting the suite-wide ones.
        split: hold out a seeded share of ``cases`` for validation, or
        validation: explicit held-out cases (not both). Selection sees only
            :meth:`training`; the campaign's winner is chosen on
            :meth:`held_out`. Without either, :meth:`training` is the suite
            itself (same id) and there is no held-out suite.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    # Declared before the check lists so that the module is imported first.
    predicates: str | None = None
    budgets: Budgets = Field(default_factory=Budgets)
    required_checks: list[Check] = Field(default_factory=list)
    cases: list[Case] = Field(min_length=1)
    split: Split | None = None
    validation: list[Case] = Field(default_factory=list)

    @field_validator("predicates")
    @classmethod
    def _import_predicates(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                import_predicates(value)
            except PredicateError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("required_checks")
    @classmethod
    def _force_required(cls, value: list[Check]) -> list[Check]:
        return [c if c.required else c.model_copy(update={"required": True}) for c in value]

    @model_validator(mode="after")
    def _consistent(self) -> TaskSuite:
        seen: set[str] = set()
        for field, cases in (("cases", self.cases), ("validation", self.validation)):
            for i, case in enumerate(cases):
                if case.id in seen:
                    raise LocatedValueError((field, i, "id"), f"duplicate case id {case.id!r}")
                seen.add(case.id)
                if not case.checks and not self.required_checks:
                    raise LocatedValueError(
                        (field, i),
                        f"case {case.id!r} has no checks and the suite no required_checks",
                    )
        if self.split is not None:
            if self.validation:
                raise LocatedValueError(
                    ("validation",), "give either 'split' or explicit 'validation' cases, not both"
                )
            held = _held_out_count(len(self.cases), self.split.validation)
            if held < 1 or held >= len(self.cases):
                raise LocatedValueError(
                    ("split", "validation"),
                    f"holding out {self.split.validation} of {len(self.cases)} cases leaves "
                    f"{'no validation' if held < 1 else 'no training'} case",
                )
        problems = unknown_custom_checks(self)
        if problems:
            raise LocatedValueError(*problems[0])
        return self

    @property
    def id(self) -> str:
        """``s-`` + the first 16 hex digits of the SHA-256 of the canonical content.

        Computed on each access (not cached): ``model_copy(update=...)`` would
        carry a cached value over to a suite with different content.
        """
        payload = json.dumps(
            self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":")
        )
        return "s-" + hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def has_held_out(self) -> bool:
        """Whether the suite declares held-out cases (``split`` or ``validation``)."""
        return self.split is not None or bool(self.validation)

    def held_out_ids(self) -> list[str]:
        """The ids of the held-out cases, sorted (empty without a split).

        A ``split`` shuffles the sorted case ids with its seed, so which cases
        are held out depends on the ids and the seed only, not on file order.
        """
        if self.split is None:
            return sorted(c.id for c in self.validation)
        ids = sorted(c.id for c in self.cases)
        random.Random(self.split.seed).shuffle(ids)
        return sorted(ids[: _held_out_count(len(ids), self.split.validation)])

    def training(self) -> TaskSuite:
        """The suite selection sees: the cases that are not held out.

        Returns ``self`` (same id) when nothing is held out, so suites without
        a split keep their evaluations and ids.
        """
        if not self.has_held_out:
            return self
        held = set(self.held_out_ids())
        cases = [c for c in self.cases if c.id not in held]
        return self.model_copy(update={"cases": cases, "split": None, "validation": []})

    def held_out(self) -> TaskSuite | None:
        """The validation suite (the held-out cases, same checks and budgets), or None.

        Its id differs from :meth:`training`'s, so evaluations cached by
        (genome, suite, fidelity) never mix the two.
        """
        if not self.has_held_out:
            return None
        if self.split is None:
            cases = list(self.validation)
        else:
            held = set(self.held_out_ids())
            cases = [c for c in self.cases if c.id in held]
        return self.model_copy(update={"cases": cases, "split": None, "validation": []})

    def checks_for(self, case: Case) -> list[CheckBase]:
        """The checks run on ``case``: its own, then the suite-wide required ones."""
        return [*case.checks, *self.required_checks]

    def case(self, case_id: str) -> Case:
        """The case with ``case_id``.

        Raises:
            UnknownCase: no such case (also a ``KeyError``).
        """
        for case in self.cases:
            if case.id == case_id:
                return case
        raise UnknownCase(case_id)


def _held_out_count(cases: int, share: float) -> int:
    """How many of ``cases`` a split of ``share`` holds out (rounded half up)."""
    return int(cases * share + 0.5)
