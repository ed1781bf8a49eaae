"""The graded similarity signal and the ``similarity`` check type."""

from __future__ import annotations

import pytest

from evofarm.evolution.engine import case_similarity, member_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.selection.base import by_fitness
from evofarm.fitness.checks import CheckContext, EqualsCheck, SimilarityCheck, run_check
from evofarm.fitness.records import CaseResult, Evaluation
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.similarity import edit_distance, similarity, token_similarity
from evofarm.fitness.suite import TaskSuite


def test_metrics() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert similarity("abc", "abc") == 1.0
    assert similarity("", "abc") == 0.0
    assert similarity("abcd", "abce") == pytest.approx(0.75)
    assert token_similarity("a b c", "c b a") == 1.0
    assert similarity("a b", "a c", "token") == pytest.approx(1 / 3)


def test_equals_scores_closeness_but_still_fails() -> None:
    check = EqualsCheck(value="15/01/2023", required=True)
    near = run_check(check, {"output": "15-01-2023"}, CheckContext())
    far = run_check(check, {"output": "nothing"}, CheckContext())
    assert not near.passed and not far.passed
    assert near.score is not None and far.score is not None and near.score > far.score
    assert run_check(check, {"output": "15/01/2023"}, CheckContext()).score == 1.0


def test_similarity_check_passes_over_its_threshold() -> None:
    check = SimilarityCheck(value="hello world", threshold=0.8)
    assert run_check(check, {"output": "hello worlds"}, CheckContext()).passed
    low = run_check(check, {"output": "bye"}, CheckContext())
    assert not low.passed and "similarity" in low.detail
    suite = TaskSuite.model_validate(
        {
            "name": "s",
            "cases": [
                {
                    "id": "a",
                    "inputs": {},
                    "checks": [{"type": "similarity", "value": "x", "metric": "token"}],
                }
            ],
        }
    )
    assert suite.cases[0].checks[0].type == "similarity"


def _evaluation(score: float, closeness: float) -> Evaluation:
    check = EqualsCheck(value="abcd", required=True)
    output = "abcd"[: round(4 * closeness)] + "x" * (4 - round(4 * closeness))
    result = run_check(check, {"output": output}, CheckContext())
    case = CaseResult(
        case_id="a",
        passed_checks=int(result.passed),
        total_checks=1,
        required_total=1,
        required_passed=int(result.passed),
        checks=[result],
    )
    objectives = {"quality": 0.0, "tokens": 0.0, "latency": 0.0, "cost": 0.0, "fitness": score}
    return Evaluation(suite_id="s", fidelity=1.0, cases=[case], score=score, objectives=objectives)


def test_similarity_ranks_equally_fit_members_and_never_changes_fitness() -> None:
    genome = Genome.from_data(
        {"name": "p", "steps": [{"name": "a", "type": "test_echo", "value": "x"}]}
    )
    other = Genome.from_data(
        {"name": "q", "steps": [{"name": "a", "type": "test_echo", "value": "y"}]}
    )
    close = member_of(genome, _evaluation(0.25, 0.75), FitnessConfig())
    far = member_of(other, _evaluation(0.25, 0.25), FitnessConfig())
    assert close.fitness == far.fitness == 0.25
    assert close.similarity > far.similarity
    assert sorted([far, close], key=by_fitness)[0] is close
    assert case_similarity(_evaluation(1.0, 1.0)) == 1.0
