"""Genome identity, lineage, traits, chromosomes-as-data and JSON round trip."""

from __future__ import annotations

import hashlib
import json
import random

from evofarm.evolution.chromosomes import (
    prompt_patterns,
    provider_mappings,
    with_prompt_phrases,
    with_slot_binding,
    with_step_model,
)
from evofarm.evolution.genome import Genome, MutationRecord, derive_traits
from evofarm.evolution.novelty import gene_distance, novelty
from evofarm.evolution.references import (
    explicit_references,
    rename_reference,
    step_references,
)
from evofarm.pipeline.loader import load_pipeline, pipeline_from_data, pipeline_to_data

from .helpers import random_genome

SEED = "pipelines/examples/contact-cleaner-seed.yaml"


def test_id_is_sha256_of_canonical_pipeline() -> None:
    pipeline = load_pipeline(SEED)
    genome = Genome.from_pipeline(pipeline)
    expected = hashlib.sha256(
        json.dumps(pipeline_to_data(pipeline), sort_keys=True).encode()
    ).hexdigest()
    assert genome.id == expected
    # Key order in the source does not matter: the same pipeline is the same genome.
    shuffled = dict(reversed(list(pipeline_to_data(pipeline).items())))
    assert Genome.from_pipeline(pipeline_from_data(shuffled)).id == genome.id


def test_json_round_trip_and_pipeline_round_trip() -> None:
    genome = random_genome(7)
    child = genome.derive(
        {**genome.pipeline, "description": "changed"},
        MutationRecord(
            operator="step_mutation", target="s0", before="a", after="b", rationale="test"
        ),
        generation=3,
    )
    data = json.loads(json.dumps(child.model_dump(mode="json")))
    assert Genome.model_validate(data) == child
    assert Genome.from_pipeline(genome.to_pipeline()).id == genome.id


def test_lineage_of_chained_operators() -> None:
    genome = random_genome(1)
    record = MutationRecord(operator="x")
    first = genome.derive({**genome.pipeline, "description": "one"}, record, 2)
    second = first.derive({**genome.pipeline, "description": "two"}, record, 2)
    assert first.parents == second.parents == [genome.id]
    assert len(second.mutations) == 2
    later = second.derive({**genome.pipeline, "description": "three"}, record, 3)
    assert later.parents == [second.id] and len(later.mutations) == 1


def test_traits_are_derived_from_the_pipeline() -> None:
    data = {
        "name": "t",
        "steps": [
            {
                "name": "ask",
                "type": "claude",
                "model": "haiku",
                "prompt": [{"type": "static", "content": "x" * 400}],
            },
            {
                "name": "gem",
                "type": "gemini",
                "prompt": "hello",
                "token_budget": {"max_output_tokens": 256},
            },
            {
                "name": "fix",
                "type": "transform",
                "input": "{{steps.ask.result}}",
                "operations": [{"op": "strip"}, {"op": "lower"}],
            },
        ],
    }
    traits = derive_traits(pipeline_to_data(pipeline_from_data(data)))
    assert traits.step_count == 3
    assert traits.step_types == ["claude", "gemini", "transform"]
    assert traits.providers == ["claude", "gemini"]
    assert traits.models == ["haiku"]
    assert traits.llm_steps == 2 and traits.transform_ops == 2
    assert traits.prompt_chars == 405
    assert traits.expected_tokens == 100 + 1 + 256


def test_references_found_renamed_and_explicit() -> None:
    step = {
        "name": "c",
        "type": "claude",
        "condition": "a.score > 3",
        "prompt": [
            {"type": "static", "content": "{{steps.b.result}} and {{inputs.name}} {{b.x}}"},
            {"type": "previous_response", "step": "a"},
        ],
    }
    assert step_references(step, {"a", "b", "c", "name"}) == {"a", "b"}
    renamed = rename_reference(step, "b", "z")
    assert renamed["prompt"][0]["content"] == "{{steps.z.result}} and {{inputs.name}} {{z.x}}"
    assert rename_reference(step, "a", "y")["prompt"][1]["step"] == "y"
    assert rename_reference(step, "a", "y")["condition"] == "y.score > 3"
    assert explicit_references(step) == {"a", "b"}
    assert step_references(step, {"gone"}) == set()


def test_gene_distance_and_novelty() -> None:
    assert gene_distance(["a", "b"], ["a", "b"]) == 0.0
    assert gene_distance(["a"], ["b"]) == 1.0
    assert gene_distance(["a", "a", "b"], ["a", "b"]) == 1 - 2 / 3
    assert novelty(["a"], []) == 1.0
    assert novelty(["a", "b"], [["a", "b"], ["c"]], k=1) == 0.0


def test_genes_follow_steps() -> None:
    genome = random_genome(random.Random(3).randrange(1000))
    assert len(genome.genes) == len(genome.step_names) == genome.traits.step_count


def test_chromosomes_are_views_that_round_trip() -> None:
    data = {
        "name": "c",
        "providers": {"claude": {"provider": "mock"}},
        "steps": [
            {
                "name": "ask",
                "type": "claude",
                "model": "haiku",
                "prompt": [
                    {"type": "static", "content": "Be brief. Answer {{inputs.q}}."},
                    {"type": "static", "content": "Second part."},
                ],
            },
            {
                "name": "loop",
                "type": "for_loop",
                "iterator": "x",
                "data_source": "inputs.items",
                "steps": [{"name": "echo", "type": "test_echo", "value": "{{loop.x}}"}],
            },
        ],
    }
    genome = Genome.from_pipeline(pipeline_from_data(data))
    chromosomes = genome.chromosomes()
    assert [s.name for s in chromosomes.step_sequences[""]] == ["ask", "loop"]
    assert [s.name for s in chromosomes.step_sequences["loop"]] == ["echo"]
    assert chromosomes.provider_mappings["ask"].slot == "claude"
    assert chromosomes.provider_mappings["ask"].model == "haiku"
    assert chromosomes.slot_bindings == {"claude": {"provider": "mock"}}
    assert chromosomes.prompt_patterns == {"ask": ["Be brief.", "Answer {{inputs.q}}."]}
    rewritten = with_prompt_phrases(genome.pipeline, "ask", ["Answer {{inputs.q}}.", "Be brief."])
    assert prompt_patterns(rewritten)["ask"] == ["Answer {{inputs.q}}.", "Be brief."]
    assert rewritten["steps"][0]["prompt"][1] == {"type": "static", "content": "Second part."}
    assert provider_mappings(with_step_model(genome.pipeline, "ask", "sonnet"))["ask"].model == (
        "sonnet"
    )
    rebound = with_slot_binding(genome.pipeline, "claude", "anthropic", "opus")
    assert rebound["providers"]["claude"] == {"provider": "anthropic", "model": "opus"}
    pipeline_from_data(rebound)  # still a valid pipeline
    assert genome.pipeline["providers"] == {"claude": {"provider": "mock"}}  # input untouched
