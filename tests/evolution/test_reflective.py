"""Material, synthesis, evidence and reflective mutation: what they propose for given cases."""

from __future__ import annotations

import random
from pathlib import Path

from evofarm.evolution.engine import case_similarity
from evofarm.evolution.examples import Example, examples_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.material import GENERIC_STRINGS, material_of
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.op_factory import INSERTABLE, random_op, valid
from evofarm.evolution.proposals import evidence_of
from evofarm.evolution.repair import apply_operator
from evofarm.evolution.synthesis import assumption_cost, run_op, synthesize
from evofarm.fitness.suite import TaskSuite
from evofarm.pipeline.loader import pipeline_from_data

from .text_tasks import feedback_context, identity_genome, mock_evaluate, text_suite


def _apply(ops: list[dict[str, object]], text: str) -> object:
    value: object = text
    for op in ops:
        value = run_op(value, op)
    return value


def test_material_comes_from_the_examples_not_a_built_in_list() -> None:
    examples = [
        Example(case_id="a", inputs={"text": "2023/01/15"}, expected="15#01#2023"),
        Example(case_id="b", inputs={"text": "1999/12/31"}, expected="31#12#1999"),
    ]
    material = material_of(examples)
    assert "/" in material.chars and "#" in material.chars
    assert "#" in material.literals  # in the expected outputs, not in the inputs
    assert set(GENERIC_STRINGS) <= set(material.strings)
    assert material_of(list(reversed(examples))) == material  # order does not matter
    # Nothing from another task leaks in.
    assert "@" not in material.strings


def test_op_factory_makes_every_insertable_op_valid() -> None:
    material = material_of([Example(case_id="a", inputs={"text": "a-b"}, expected="b a")])
    rng = random.Random(3)
    for name, _ in INSERTABLE:
        made = [random_op(name, rng, material) for _ in range(20)]
        assert any(op is not None for op in made), name
        assert all(valid(op) for op in made if op is not None)


def test_synthesis_extracts_a_substring() -> None:
    pairs = [("ada@example.com", "example.com"), ("bob.smith@mail.co.uk", "mail.co.uk")]
    ops = synthesize(pairs, random.Random(1))
    assert ops and all(_apply(ops, a) == e for a, e in pairs)
    assert _apply(ops, "z@a.fr") == "a.fr"


def test_synthesis_reorders_tokens_with_capture_groups() -> None:
    pairs = [("2023-01-15", "15/01/2023"), ("1999-12-31", "31/12/1999")]
    ops = synthesize(pairs, random.Random(1))
    assert ops[0]["op"] == "regex_replace"
    assert _apply(ops, "1970-01-01") == "01/01/1970"


def test_synthesis_fixes_case_and_adds_literals() -> None:
    assert synthesize([("ADA", "ada"), ("BOB", "bob")], random.Random(1)) == [{"op": "lower"}]
    ops = synthesize([("python", "#python"), ("data", "#data")], random.Random(1))
    assert _apply(ops, "code") == "#code"


def test_synthesis_never_bakes_one_inputs_text_in_as_a_constant() -> None:
    # A rewrite that writes "123" (one example's digits) as a literal fits that
    # example only; the text must come from a capture group.
    pairs = [("555-123-4567", "+1 555 123 4567"), ("212-555-0100", "+1 212 555 0100")]
    ops = synthesize(pairs, random.Random(1))
    assert all(_apply(ops, a) == e for a, e in pairs)
    assert _apply(ops, "303-222-1111") == "+1 303 222 1111"
    for op in ops:
        assert "123" not in op.get("replacement", "") and "555" not in op.get("replacement", "")


def test_synthesis_prefers_a_separator_to_a_character_class() -> None:
    # "[A-Za-z]+" after the dot fits these examples but not "song.mp3".
    pairs = [("report.pdf", "pdf"), ("photo.jpeg", "jpeg"), ("notes.txt", "txt")]
    ops = synthesize(pairs, random.Random(1))
    assert _apply(ops, "song.mp3") == "mp3"
    assert (
        assumption_cost([{"op": "split", "separator": ".", "index": -1}])
        < assumption_cost([{"op": "regex_extract", "pattern": r"\.([A-Za-z]+)", "group": 1}])
        < assumption_cost([{"op": "slice", "start": -3}])
    )


def test_evidence_holds_training_cases_only(tmp_path: Path) -> None:
    suite = text_suite([("ADA", "ada"), ("BOB", "bob"), ("CY", "cy")])
    evaluation = mock_evaluate(identity_genome(), suite, tmp_path)
    training = examples_of(suite, ["c0", "c1"])
    evidence = evidence_of(evaluation, training)
    assert [c.case_id for c in evidence.cases] == ["c0", "c1"]
    assert evidence.cases[0].actual == "ADA" and evidence.cases[0].expected == "ada"
    assert evidence.cases[0].reasons and not evidence.cases[0].passed


def test_reflective_mutation_fixes_failing_cases(tmp_path: Path) -> None:
    suite = text_suite([("John Smith", "Smith, John"), ("Ada Lovelace", "Lovelace, Ada")])
    parent = identity_genome()
    context = feedback_context(parent, suite, tmp_path)
    child, outcome = apply_operator("reflective_mutation", parent, random.Random(0), context)
    assert outcome == "applied" and child is not None
    assert child.mutations[-1].operator == "reflective_mutation"
    assert mock_evaluate(child, suite, tmp_path).test_rate == 1.0
    again, _ = apply_operator("reflective_mutation", parent, random.Random(0), context)
    assert again == child  # deterministic


def test_reflective_mutation_without_evidence_does_nothing() -> None:
    child, outcome = apply_operator(
        "reflective_mutation", identity_genome(), random.Random(0), OperatorContext(generation=1)
    )
    assert child is None and outcome == "noop"


def test_reflective_mutation_fixes_the_step_of_a_record(tmp_path: Path) -> None:
    suite = TaskSuite.model_validate(
        {
            "name": "rec",
            "cases": [
                {
                    "id": f"c{i}",
                    "inputs": {"name": n, "code": c},
                    "checks": [{"type": "equals", "value": want, "required": True}],
                }
                for i, (n, c, want) in enumerate(
                    [("ADA", "x/1", "Ada x-1"), ("BOB", "y/2", "Bob y-2"), ("CY", "z/3", "Cy z-3")]
                )
            ],
        }
    )
    parent = Genome.from_data(
        {
            "name": "rec",
            "steps": [
                {
                    "name": "n",
                    "type": "transform",
                    "input": "{{inputs.name}}",
                    "operations": [{"op": "strip"}],
                },
                {
                    "name": "c",
                    "type": "transform",
                    "input": "{{inputs.code}}",
                    "operations": [{"op": "strip"}],
                },
                {
                    "name": "line",
                    "type": "test_echo",
                    "value": "{{steps.n.result}} {{steps.c.result}}",
                },
            ],
        }
    )
    pipeline_from_data(parent.pipeline)
    examples = examples_of(suite)
    evaluation = mock_evaluate(parent, suite, tmp_path)
    context = OperatorContext(generation=1, evidence=evidence_of(evaluation, examples))
    child, _ = apply_operator("reflective_mutation", parent, random.Random(0), context)
    assert child is not None
    # One step was improved in place; the record step is untouched.
    assert [s["name"] for s in child.pipeline["steps"]] == ["n", "c", "line"]
    assert case_similarity(mock_evaluate(child, suite, tmp_path)) > case_similarity(evaluation)
