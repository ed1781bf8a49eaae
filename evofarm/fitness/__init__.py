"""evofarm.fitness: task suites, checks, scoring and candidate evaluation.

Public API (see each module for the contracts):

* suites: :class:`TaskSuite`, :class:`Case`, :class:`Budgets`,
  :func:`load_suite`, :func:`load_suite_text`, :func:`resolve_suite`;
* checks: :data:`Check`, :class:`CheckResult`, :func:`register_check`;
* scoring: :func:`judge_fitness`, :class:`FitnessConfig`;
* evaluation: :func:`evaluate_pipeline`, :func:`select_cases`,
  :class:`CaseFailed`, :class:`Evaluation`, :class:`CaseResult`;
* meta-metrics: :mod:`evofarm.fitness.metrics`.
"""

from __future__ import annotations

from evofarm.fitness.checks import Check, CheckContext, CheckResult
from evofarm.fitness.predicates import register_check
from evofarm.fitness.records import CaseResult, Evaluation
from evofarm.fitness.runner import CaseFailed, evaluate_pipeline, select_cases
from evofarm.fitness.scoring import FitnessConfig, judge_fitness
from evofarm.fitness.suite import (
    Budgets,
    Case,
    TaskSuite,
    load_suite,
    load_suite_text,
    resolve_suite,
)

__all__ = [
    "Budgets",
    "Case",
    "CaseFailed",
    "CaseResult",
    "Check",
    "CheckContext",
    "CheckResult",
    "Evaluation",
    "FitnessConfig",
    "TaskSuite",
    "evaluate_pipeline",
    "judge_fitness",
    "load_suite",
    "load_suite_text",
    "register_check",
    "resolve_suite",
    "select_cases",
]
