"""Evidence-driven proposals: the interface reflective operators share.

A *proposer* reads a parent and :class:`Evidence` of how it did on a few
training cases and proposes a whole child pipeline. The LLM operator
(``llm_mutation``, a meta pipeline asked with this evidence) and the offline,
example-driven proposer for transform steps
(:mod:`evofarm.evolution.example_proposer`) both implement :class:`Proposer`;
:func:`proposal_operator` wraps one as an ordinary operator, so its child goes
through the same validation and repair-or-discard accounting as any other.

Evidence is built by :func:`evidence_of` from the parent's stored evaluation
(``CaseResult.output_excerpt``, per-step outputs and check details) and the suite's *training*
examples, so it is a pure function of stored data: the in-process loop and a
farm worker build the same evidence for the same parent.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict

from evofarm.evolution.examples import Example
from evofarm.evolution.genome import Genome, MutationRecord
from evofarm.fitness.records import EXCERPT_CHARS, Evaluation
from evofarm.pipeline.schema import Pipeline

if TYPE_CHECKING:
    from evofarm.evolution.operators.base import OperatorContext

#: Failing cases an evidence record keeps (the first by case id).
MAX_FAILING = 6
#: Passing cases kept too, so a proposal can be checked not to break them.
MAX_PASSING = 3
REASON_CHARS = 200


class CaseEvidence(BaseModel):
    """One training case of the parent's evaluation.

    Attributes:
        case_id: The case.
        inputs: Its inputs, as text.
        actual: The parent's final output (capped at
            :data:`~evofarm.fitness.records.EXCERPT_CHARS`).
        expected: The exact output the case asks for, if it states one.
        passed: Whether every check of the case passed.
        truncated: ``actual`` was cut, so it is not the whole output.
        reasons: Why each failed check failed (capped).
        steps: For a failing case, each step's output in execution order (capped;
            ``(skipped)`` or ``(failed: ...)`` for steps that gave none).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    inputs: dict[str, str]
    actual: str
    expected: str | None = None
    passed: bool = False
    truncated: bool = False
    reasons: tuple[str, ...] = ()
    steps: tuple[tuple[str, str], ...] = ()


class Evidence(BaseModel):
    """What a reflective operator knows about its parent (JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fitness: float
    test_rate: float
    cases: tuple[CaseEvidence, ...] = ()

    @property
    def failing(self) -> tuple[CaseEvidence, ...]:
        """The cases that failed."""
        return tuple(c for c in self.cases if not c.passed)


def evidence_of(
    evaluation: Evaluation,
    examples: Sequence[Example],
    *,
    max_failing: int = MAX_FAILING,
    max_passing: int = MAX_PASSING,
) -> Evidence:
    """The evidence of ``evaluation`` on the training ``examples`` (others are ignored).

    Cases are taken in case-id order; a case that did not run to completion
    (``outcome`` not ``ok``) still counts as failing, with an empty output.
    """
    by_id = {e.case_id: e for e in examples}
    failing: list[CaseEvidence] = []
    passing: list[CaseEvidence] = []
    for case in sorted(evaluation.cases, key=lambda c: c.case_id):
        example = by_id.get(case.case_id)
        if example is None:
            continue
        passed = case.ok and case.total_checks > 0 and case.passed_checks == case.total_checks
        bucket, cap = (passing, max_passing) if passed else (failing, max_failing)
        if len(bucket) >= cap:
            continue
        actual = case.output_excerpt if case.ok else ""
        bucket.append(
            CaseEvidence(
                case_id=case.case_id,
                inputs=example.inputs,
                actual=actual,
                expected=example.expected,
                passed=passed,
                truncated=len(actual) >= EXCERPT_CHARS and actual.endswith("..."),
                reasons=tuple(
                    r.detail[:REASON_CHARS] or r.label for r in case.checks if not r.passed
                )
                or ((case.reason or case.outcome)[:REASON_CHARS],)
                if not passed
                else (),
                steps=tuple(case.step_outputs.items()) if not passed else (),
            )
        )
    return Evidence(
        fitness=evaluation.score, test_rate=evaluation.test_rate, cases=(*failing, *passing)
    )


class Proposer(Protocol):
    """Proposes a child pipeline from a parent and evidence (``None``: no idea).

    Implementations must be deterministic given their arguments and draw every
    random choice from ``rng``.
    """

    def __call__(
        self,
        parent: Genome,
        evidence: Evidence,
        rng: random.Random,
        context: OperatorContext,
    ) -> Pipeline | None: ...


def proposal_operator(
    name: str, proposer: Proposer
) -> Callable[[Genome, random.Random, OperatorContext], Genome | None]:
    """An operator function running ``proposer`` on the context's evidence.

    The operator does nothing (returns ``None``) when the context carries no
    evidence or the parent failed no case.
    """

    def operator(genome: Genome, rng: random.Random, context: OperatorContext) -> Genome | None:
        evidence = context.evidence
        if evidence is None or not evidence.failing:
            return None
        proposal = proposer(genome, evidence, rng, context)
        if proposal is None:
            return None
        record = MutationRecord(
            operator=name,
            target=None,
            before=f"fitness {evidence.fitness:.4f}, {len(evidence.failing)} failing cases shown",
            after="proposed pipeline",
            rationale=f"{name}: proposal from {len(evidence.cases)} training cases",
        )
        return genome.child(proposal, record, context.generation)

    return operator
