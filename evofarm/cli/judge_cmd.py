"""``evofarm judge PIPELINE --suite SUITE [--json]``: score one pipeline on a suite.

Contract (scripts rely on it):

- human output: the fitness with its terms (test_rate, gates, efficiency), the
  tests passed, then one line per failing case (id, outcome, why);
- ``--json``: exactly one object with ``fitness, test_rate, gates, efficiency,
  tests_passed, tests_total, tokens, cost_usd, time_ms, outcome, reason, cases``
  (``cases``: ``id, passed, outcome, output, failed`` per case);
- exit status 0 when the pipeline was judged (whatever its score), 2 for bad
  input (files, options), 1 for other errors; never a traceback.

The pipeline runs in this process with the chosen provider (mock by default),
each case in its own temporary workspace, with the default fitness weights.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from evofarm.cli.output import friendly_errors
from evofarm.fitness.records import Evaluation
from evofarm.fitness.runner import evaluate_pipeline, per_case_runtimes
from evofarm.fitness.suite import load_suite
from evofarm.pipeline.loader import load_pipeline
from evofarm.pipeline.runtime import Runtime
from evofarm.providers.registry import ProviderSet

PROVIDER_CHOICES = ("mock", "replay", "anthropic")


def judge_files(pipeline_file: Path, suite_file: Path, provider: str = "mock") -> Evaluation:
    """Evaluate the pipeline in ``pipeline_file`` on the suite in ``suite_file``.

    Raises:
        UserInputError: a file is missing or invalid.
        ProviderConfigError: the provider cannot be built (e.g. no API key).
    """
    pipeline = load_pipeline(pipeline_file)
    suite = load_suite(suite_file)
    with tempfile.TemporaryDirectory(prefix="evofarm-judge-") as tmp:
        base = Runtime(
            providers=ProviderSet.for_provider(provider),
            workspace=Path(tmp),
            base_dir=pipeline_file.resolve().parent,
        )
        return evaluate_pipeline(pipeline, suite, runtime_factory=per_case_runtimes(base))


def judge_json(evaluation: Evaluation) -> dict[str, Any]:
    """The ``--json`` object of an evaluation (see module docs)."""
    return {
        "fitness": evaluation.score,
        "test_rate": evaluation.test_rate,
        "gates": evaluation.gates,
        "efficiency": evaluation.efficiency,
        "tests_passed": evaluation.tests_passed,
        "tests_total": evaluation.tests_total,
        "tokens": evaluation.tokens,
        "cost_usd": evaluation.cost_usd,
        "time_ms": evaluation.time_ms,
        "outcome": evaluation.outcome,
        "reason": evaluation.reason,
        "cases": [
            {
                "id": c.case_id,
                "passed": c.ok and c.total_checks > 0 and c.passed_checks == c.total_checks,
                "outcome": c.outcome,
                "output": c.output_excerpt,
                "failed": [r.detail or r.label for r in c.checks if not r.passed],
            }
            for c in evaluation.cases
        ],
    }


def judge(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline YAML file to score.")],
    suite: Annotated[Path, typer.Option("--suite", help="The task suite (YAML or JSONL).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    provider: Annotated[
        str,
        typer.Option("--provider", help=f"Provider for LLM steps: {', '.join(PROVIDER_CHOICES)}."),
    ] = "mock",
) -> None:
    """Score one pipeline on a task suite with the judge formula."""
    evaluation = judge_files(pipeline, suite, provider)
    data = judge_json(evaluation)
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True))
        return
    typer.echo(
        f"fitness {data['fitness']:.4f}  (test_rate {data['test_rate']:.4f}, "
        f"gates {data['gates']:.4f}, efficiency {data['efficiency']:.4f})"
    )
    typer.echo(f"tests {data['tests_passed']}/{data['tests_total']} passed")
    if evaluation.outcome != "ok":
        typer.echo(f"outcome {evaluation.outcome}: {evaluation.reason}")
    for case in data["cases"]:
        if not case["passed"]:
            why = "; ".join(case["failed"]) or case["outcome"]
            typer.echo(f"FAIL {case['id']}: {why}")


def register(app: typer.Typer) -> None:
    """Add ``judge`` to the ``evofarm`` app."""
    app.command("judge")(friendly_errors(judge))
