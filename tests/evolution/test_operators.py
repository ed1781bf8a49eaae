"""Every operator's output is a valid, canonical pipeline; outcomes are counted."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evofarm.evolution.crossover import CROSSOVERS
from evofarm.evolution.genome import Genome, genome_id
from evofarm.evolution.operators.registry import get_operator, registered_operators
from evofarm.evolution.outcomes import OperatorOutcome, OperatorStats, tally
from evofarm.evolution.repair import apply_operator, finalize, reference_problems
from evofarm.pipeline.loader import pipeline_from_data, pipeline_to_data
from evofarm.registry import UnknownExtension

from .helpers import context, genomes, random_genome


def assert_valid(child: Genome, max_steps: int = 8) -> None:
    pipeline = pipeline_from_data(child.pipeline)  # schema + validator: raises if invalid
    canonical = pipeline_to_data(pipeline)
    assert child.id == genome_id(canonical)
    assert reference_problems(canonical["steps"]) == []
    assert 1 <= len(canonical["steps"]) <= max_steps


BUILTIN = (
    "feature_insertion",
    "prompt_evolution",
    "provider_optimization",
    "sequence_reshuffle",
    "step_deletion",
    "step_mutation",
    "reflective_mutation",
)


def test_builtin_operators_are_registered() -> None:
    assert set(BUILTIN) <= set(registered_operators())
    with pytest.raises(UnknownExtension, match="unknown operator 'step_mutaton'") as info:
        get_operator("step_mutaton")
    assert isinstance(info.value, KeyError)
    assert "did you mean 'step_mutation'" in str(info.value)


@settings(max_examples=60, deadline=None)
@given(genome=genomes, donor=genomes, seed=st.integers(0, 2**32 - 1), name=st.sampled_from(BUILTIN))
def test_every_operator_output_is_valid(
    genome: Genome, donor: Genome, seed: int, name: str
) -> None:
    child, outcome = apply_operator(name, genome, random.Random(seed), context((donor,)))
    if child is None:
        assert outcome in ("noop", "invalid")
        return
    assert outcome in ("applied", "repaired")
    assert child.id != genome.id
    assert_valid(child)
    assert child.mutations[-1].operator == name
    assert child.mutations[-1].outcome == outcome
    assert child.parents == [genome.id]
    assert child.generation == 1


@settings(max_examples=40, deadline=None)
@given(
    a=genomes, b=genomes, seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(sorted(CROSSOVERS))
)
def test_crossover_children_are_valid_after_repair(
    a: Genome, b: Genome, seed: int, kind: str
) -> None:
    raw = CROSSOVERS[kind](a, b, random.Random(seed), 3)
    if raw is None:
        return
    child, outcome = finalize(raw, context())
    if child is None:
        assert outcome == "invalid"
        return
    assert_valid(child)
    assert child.parents == [a.id, b.id]
    assert child.mutations[0].operator == f"crossover:{kind}"


def test_operators_are_deterministic_for_an_rng_seed() -> None:
    genome, donor = random_genome(11), random_genome(12)
    for name in BUILTIN:
        first = apply_operator(name, genome, random.Random(5), context((donor,)))
        again = apply_operator(name, genome, random.Random(5), context((donor,)))
        assert first == again


def test_operators_succeed_on_typical_pipelines() -> None:
    # Each operator must be able to do its job on pipelines that offer it a target
    # (reflective mutation needs evidence: tests/evolution/test_reflective.py).
    names = [n for n in BUILTIN if n != "reflective_mutation"]
    stats: dict[str, OperatorStats] = {}
    for seed in range(40):
        genome, donor = random_genome(seed), random_genome(seed + 1000)
        outcomes = []
        for name in names:
            _, outcome = apply_operator(name, genome, random.Random(seed), context((donor,)))
            outcomes.append(OperatorOutcome(operator=name, outcome=outcome))
        stats = tally(stats, outcomes)
    for name in names:
        assert stats[name].attempts == 40
        assert stats[name].success_rate > 0.3, (name, stats[name])


def test_step_deletion_rewires_readers() -> None:
    data = {
        "name": "p",
        "steps": [
            {
                "name": "a",
                "type": "transform",
                "input": "{{inputs.x}}",
                "operations": [{"op": "strip"}],
            },
            {
                "name": "b",
                "type": "transform",
                "input": "{{steps.a.result}}",
                "operations": [{"op": "lower"}],
            },
            {
                "name": "c",
                "type": "transform",
                "input": {"v": "{{steps.b.result}}"},
                "operations": [{"op": "format", "template": "{v}!"}],
            },
        ],
    }
    genome = Genome.from_pipeline(pipeline_from_data(data))
    for seed in range(20):
        child, _ = apply_operator("step_deletion", genome, random.Random(seed), context())
        assert child is not None
        names = child.step_names
        if "b" not in names:
            assert child.pipeline["steps"][1]["input"] == {"v": "{{steps.a.result}}"}
        assert_valid(child)


def test_sequence_reshuffle_never_breaks_dependencies() -> None:
    genome = random_genome(3)
    for seed in range(50):
        child, outcome = apply_operator(
            "sequence_reshuffle", genome, random.Random(seed), context()
        )
        assert outcome != "invalid"
        if child is not None:
            assert sorted(child.step_names) == sorted(genome.step_names)
