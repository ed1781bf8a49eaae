"""The text inputs of the meta pipelines, rendered deterministically.

Everything a proposer reads is built here from data both the loop and a farm
worker hold (the parent, its evidence on *training* cases, earlier attempts,
the step-type registry), with fixed ordering and caps, so the same task sends
the same request wherever it runs (and a replay cassette answers it).

Feedback is specific, as GEPA's reflective dataset is: per failing case, its
inputs, the candidate's output, the expected output and why each check failed.
One component is put in focus (drawn from the slot's rng), so different slots
mutating the same parent ask for different changes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.runtime import Attempt
from evofarm.evolution.proposals import CaseEvidence, Evidence
from evofarm.pipeline.loader import dump_pipeline
from evofarm.pipeline.step_types import STEP_REGISTRY

#: Characters of any one rendered value (an input, an output) in the feedback.
VALUE_CHARS = 400
#: Cases rendered into the feedback.
MAX_CASES = 5


def _clip(text: str, limit: int = VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _case_text(number: int, case: CaseEvidence) -> str:
    lines = [f"### Case {number} ({case.case_id}): {'passed' if case.passed else 'FAILED'}"]
    for key in sorted(case.inputs):
        lines.append(f"- input `{key}`: {json.dumps(_clip(case.inputs[key]))}")
    for step, output in case.steps:
        lines.append(f"- output of step `{step}`: {json.dumps(_clip(output))}")
    actual = _clip(case.actual) + (" (truncated)" if case.truncated else "")
    lines.append(f"- candidate output: {json.dumps(actual)}")
    if case.expected is not None:
        lines.append(f"- expected output: {json.dumps(_clip(case.expected))}")
    for reason in case.reasons:
        lines.append(f"- failed check: {_clip(reason, 200)}")
    return "\n".join(lines)


def feedback_text(evidence: Evidence | None, *, max_cases: int = MAX_CASES) -> str:
    """The cases the proposer reads: failing ones first, then a passing one to keep."""
    if evidence is None or not evidence.cases:
        return "(no evaluation of this candidate is available)"
    failing = list(evidence.failing)[:max_cases]
    passing = [c for c in evidence.cases if c.passed][: max(0, min(1, max_cases - len(failing)))]
    parts = [_case_text(i + 1, c) for i, c in enumerate([*failing, *passing])]
    return "\n\n".join(parts)


def attempts_text(attempts: Sequence[Attempt]) -> str:
    """Earlier children of the same parent, oldest first (OpenEvolve's 'previous attempts')."""
    if not attempts:
        return "(none yet)"
    rows = []
    for i, a in enumerate(attempts, 1):
        score = "not evaluated" if a.fitness is None else f"fitness {a.fitness:.4f}"
        rows.append(f"{i}. generation {a.generation}, {a.operator}, {score}: {a.change}")
    return "\n".join(rows)


def step_types_text() -> str:
    """The registered step types (from the registry, the single source of names)."""
    return ", ".join(STEP_REGISTRY.names())


def focus_of(genome: Genome, rng: random.Random) -> str:
    """The one component this proposal should change (a step name), drawn from ``rng``."""
    names = [str(s.get("name")) for s in genome.pipeline.get("steps", []) if isinstance(s, dict)]
    return rng.choice(names) if names else "(the pipeline as a whole)"


def fitness_text(evidence: Evidence | None) -> str:
    """``F (test rate T)`` from the evidence, else ``unknown``.

    Never read from the genome record: a farm's stored genome carries no score
    while the loop's does, and the request must be the same in both.
    """
    if evidence is None:
        return "unknown"
    return f"{evidence.fitness:.4f} (test rate {evidence.test_rate:.4f})"


def mutation_inputs(
    parent: Genome, evidence: Evidence | None, attempts: Sequence[Attempt], rng: random.Random
) -> dict[str, str]:
    """Inputs of ``reflective_mutation.yaml``."""
    return {
        "candidate_yaml": dump_pipeline(parent.to_pipeline()),
        "fitness": fitness_text(evidence),
        "feedback": feedback_text(evidence),
        "attempts": attempts_text(attempts),
        "focus": focus_of(parent, rng),
        "step_types": step_types_text(),
    }


def crossover_inputs(
    a: Genome,
    b: Genome,
    evidence: Evidence | None,
    attempts: Sequence[Attempt],
    goals: str,
) -> dict[str, str]:
    """Inputs of ``breeding_chamber.yaml``'s crossover (``a`` is the fitter parent)."""
    return {
        "parent_a_yaml": dump_pipeline(a.to_pipeline()),
        "parent_a_fitness": fitness_text(evidence),
        "parent_b_yaml": dump_pipeline(b.to_pipeline()),
        "parent_b_fitness": "one of the fittest genomes of the population",
        "feedback": feedback_text(evidence),
        "attempts": attempts_text(attempts),
        "goals": goals,
        "step_types": step_types_text(),
    }


def genesis_inputs(request: str, suite_summary: str, attempt: int) -> dict[str, str]:
    """Inputs of ``genesis_pipeline.yaml`` (``attempt`` varies retried requests)."""
    return {
        "request": request,
        "suite_summary": suite_summary or "(no suite given)",
        "attempt": str(attempt),
        "step_types": step_types_text(),
    }
