"""The re-cased piece of an output, and the proposer computing it in a step of its own."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from evofarm.evolution.pieces import cased_piece
from evofarm.evolution.repair import apply_operator

from .text_tasks import feedback_context, identity_genome, mock_evaluate, text_suite


def test_the_piece_is_the_run_of_recased_words_next_to_kept_ones() -> None:
    assert cased_piece("city: Oslo Norte | code nb", "OSLO NORTE [nb]") == "OSLO NORTE"
    assert cased_piece("Tom Hanks, actor", "actor: tom hanks") == "tom hanks"


def test_no_piece_when_one_case_operation_would_do_or_words_are_new() -> None:
    assert cased_piece("Tom Hanks", "TOM HANKS") is None  # nothing kept: upper the whole
    assert cased_piece("Tom Hanks", "Hanks, Tom") is None  # nothing re-cased
    assert cased_piece("a b c", "A b C") is None  # a kept word inside the run
    assert cased_piece("Tom", "TOM 42 [x]") is None  # digits and new words are not kept


def test_reflective_mutation_recases_one_field_in_a_step_of_its_own(tmp_path: Path) -> None:
    train = [
        ("city: Oslo | code nb", "OSLO [nb]"),
        ("city: Lima | code es", "LIMA [es]"),
        ("city: Accra | code en", "ACCRA [en]"),
        ("city: Quito | code qu", "QUITO [qu]"),
    ]
    held_out = [("city: Bern | code de", "BERN [de]"), ("city: Riga | code lv", "RIGA [lv]")]
    suite = text_suite(train)
    parent = identity_genome()
    context = feedback_context(parent, suite, tmp_path)
    child, outcome = apply_operator("reflective_mutation", parent, random.Random(0), context)
    assert outcome == "applied" and child is not None
    names = [s["name"] for s in child.pipeline["steps"]]
    assert len(names) == 3 and names[1] == "out"  # the re-cased part, the output, both combined
    assert mock_evaluate(child, suite, tmp_path).test_rate == 1.0
    assert mock_evaluate(child, text_suite(held_out), tmp_path).test_rate == 1.0
    # With no room for two more steps the single-list proposal is made instead.
    tight = dataclasses.replace(context, max_steps=2)
    single, _ = apply_operator("reflective_mutation", parent, random.Random(0), tight)
    assert single is not None and len(single.pipeline["steps"]) == 1
