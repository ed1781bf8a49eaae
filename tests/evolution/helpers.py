"""Shared test material: random pipelines and synthetic evaluations."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from evofarm.campaign.spec import load_campaign
from evofarm.errors import CampaignSpecError
from evofarm.evolution.genome import Genome
from evofarm.evolution.operators import library
from evofarm.evolution.operators.base import ModelChoice, OperatorContext
from evofarm.fitness.records import CaseResult, Evaluation, aggregate
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import Budgets
from evofarm.pipeline.loader import pipeline_from_data

CATALOGUE = (
    ModelChoice(
        slot="claude",
        model="haiku",
        provider="anthropic",
        input_usd_per_mtok=1.0,
        output_usd_per_mtok=5.0,
    ),
    ModelChoice(
        slot="claude",
        model="sonnet",
        provider="anthropic",
        input_usd_per_mtok=3.0,
        output_usd_per_mtok=15.0,
    ),
    ModelChoice(slot="claude", model="mock-small", provider="mock"),
    ModelChoice(
        slot="gemini",
        model="gemini-flash",
        provider="gemini",
        input_usd_per_mtok=0.3,
        output_usd_per_mtok=2.5,
    ),
)
# Operations random test pipelines are made of (test data, not search material).
OPS = [
    {"op": "strip"},
    {"op": "lower"},
    {"op": "upper"},
    {"op": "title"},
    {"op": "regex_replace", "pattern": r"\s+", "replacement": " "},
    {"op": "regex_replace", "pattern": r"[^\w\s@.-]", "replacement": ""},
    {"op": "replace", "old": "/", "new": "-"},
    {"op": "replace", "old": ".", "new": "-"},
    {"op": "replace", "old": "_", "new": " "},
    *(dict(op) for _, frag in library.LLM_CLEANUPS for op in frag),
]


def _source(rng: random.Random, earlier: list[str]) -> str:
    if earlier and rng.random() < 0.6:
        return "{{steps." + rng.choice(earlier) + ".result}}"
    return "{{inputs." + rng.choice(["text", "name"]) + "}}"


def random_step(rng: random.Random, i: int, earlier: list[str]) -> dict[str, Any]:
    kind = rng.choice(["transform", "transform", "claude", "gemini", "claude_robust", "test_echo"])
    name = f"s{i}_{kind}"
    if kind == "transform":
        ops = [rng.choice(OPS) for _ in range(rng.randint(1, 4))]
        source: Any = _source(rng, earlier)
        if rng.random() < 0.3:
            source = {"a": _source(rng, earlier), "b": _source(rng, earlier)}
        return {"name": name, "type": "transform", "input": source, "operations": ops}
    if kind == "test_echo":
        return {"name": name, "type": "test_echo", "value": _source(rng, earlier)}
    phrases = rng.sample(list(library.PHRASES), rng.randint(1, 3))
    prompt: list[dict[str, Any]] = [
        {"type": "static", "content": " ".join(phrases) + " Input: " + _source(rng, earlier)}
    ]
    if earlier and rng.random() < 0.5:
        prompt.append({"type": "previous_response", "step": rng.choice(earlier)})
    step: dict[str, Any] = {"name": name, "type": kind, "prompt": prompt}
    if rng.random() < 0.5:
        step["model"] = "haiku" if kind != "gemini" else "gemini-flash"
    if kind == "gemini" and rng.random() < 0.5:
        step["token_budget"] = {"temperature": 0.2, "max_output_tokens": 512}
    if kind == "claude_robust":
        step["retry_config"] = {"max_retries": 2}
    return step


def random_pipeline_data(seed: int) -> dict[str, Any]:
    """A valid random pipeline (transform, LLM and echo steps with references)."""
    rng = random.Random(seed)
    steps: list[dict[str, Any]] = []
    for i in range(rng.randint(1, 6)):
        steps.append(random_step(rng, i, [s["name"] for s in steps]))
        if steps[-1]["type"] == "transform" and rng.random() < 0.2:
            steps[-1]["condition"] = f"{steps[0]['name']}.length > 0" if i else True
    data: dict[str, Any] = {
        "name": f"random-{seed}",
        "inputs": {"text": "", "name": ""},
        "steps": steps,
    }
    if rng.random() < 0.3:
        data["providers"] = {"claude": {"provider": "mock"}}
    return data


def random_genome(seed: int) -> Genome:
    return Genome.from_pipeline(pipeline_from_data(random_pipeline_data(seed)))


genomes = st.integers(min_value=0, max_value=10_000).map(random_genome)


def context(
    donors: tuple[Genome, ...] = (), generation: int = 1, max_steps: int = 8
) -> OperatorContext:
    return OperatorContext(
        generation=generation, donors=donors, catalogue=CATALOGUE, max_steps=max_steps
    )


def synthetic_evaluation(genome: Genome, passed: list[int], total: int = 4) -> Evaluation:
    """An evaluation with one case per entry of ``passed`` (checks passed out of ``total``)."""
    cases = [
        CaseResult(
            case_id=f"c{i:02d}",
            passed_checks=p,
            total_checks=total,
            required_passed=int(p == total),
            required_total=1,
            efficiency=1.0,
        )
        for i, p in enumerate(passed)
    ]
    return aggregate(
        cases,
        suite_id="s-test",
        budgets=Budgets(),
        config=FitnessConfig(),
        fidelity=1.0,
        genome_id=genome.id,
    )


DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"


def demo_campaign_text(name: str, evolution: str) -> str:
    """A campaign file's text: ``name``, the demo's seed and suite (lines 2-3), then
    ``evolution:`` (line 4) followed by ``evolution``, its lines already indented."""
    spec = load_campaign(DEMO)
    return (
        f"name: {name}\nseeds: [{spec.seed_paths[0]}]\nsuite: {spec.suite_path}\n"
        f"evolution:\n{evolution}"
    )


def refused(path: Path, text: str) -> CampaignSpecError:
    """Write ``text`` to ``path`` and return the error loading it raises; fails if it loads."""
    path.write_text(text)
    with pytest.raises(CampaignSpecError) as info:
        load_campaign(path)
    return info.value
