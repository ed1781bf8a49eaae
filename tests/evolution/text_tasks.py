"""Shared test material for one-field string tasks: suites from pairs, the identity genome,
evaluation with the mock provider, the context a feedback operator gets."""

from __future__ import annotations

from pathlib import Path

from evofarm.evolution.examples import examples_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.material import material_of
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.proposals import evidence_of
from evofarm.fitness.records import Evaluation
from evofarm.fitness.runner import evaluate_pipeline
from evofarm.fitness.suite import TaskSuite
from evofarm.pipeline.runtime import Runtime
from evofarm.providers.registry import ProviderSet


def text_suite(pairs: list[tuple[str, str]]) -> TaskSuite:
    """A suite with one case per (input text, expected output) pair, each a required equals."""
    return TaskSuite.model_validate(
        {
            "name": "t",
            "cases": [
                {
                    "id": f"c{i}",
                    "inputs": {"text": x},
                    "checks": [{"type": "equals", "value": y, "required": True}],
                }
                for i, (x, y) in enumerate(pairs)
            ],
        }
    )


def identity_genome() -> Genome:
    """A one-step genome whose output is its input text unchanged."""
    return Genome.from_data(
        {
            "name": "id",
            "steps": [
                {
                    "name": "out",
                    "type": "transform",
                    "input": "{{inputs.text}}",
                    "operations": [{"op": "slice"}],
                }
            ],
        }
    )


def mock_evaluate(genome: Genome, suite: TaskSuite, workspace: Path) -> Evaluation:
    """Evaluate ``genome`` on ``suite`` with the mock provider, working in ``workspace``."""
    runtime = Runtime(providers=ProviderSet.for_provider("mock"), workspace=workspace)
    return evaluate_pipeline(genome.to_pipeline(), suite, runtime_factory=lambda _c: runtime)


def feedback_context(parent: Genome, suite: TaskSuite, workspace: Path) -> OperatorContext:
    """Generation 1's context for mutating ``parent``: material from ``suite``'s examples and
    the parent, evidence from the parent's mock evaluation on ``suite``."""
    evaluation = mock_evaluate(parent, suite, workspace)
    examples = examples_of(suite)
    return OperatorContext(
        generation=1,
        material=material_of(examples, [parent.pipeline]),
        evidence=evidence_of(evaluation, examples),
    )
