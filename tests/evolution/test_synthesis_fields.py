"""Separator normalisation and context-anchored field extraction in the synthesis.

Each test states what the synthesis proposes for given failing pairs and that
the proposal holds on inputs it never saw (other spacing, other neighbours).
"""

from __future__ import annotations

import random

from evofarm.evolution.synthesis import (
    field_candidates,
    initials_candidates,
    run_op,
    separator_candidates,
    synthesize,
)


def _apply(ops: list[dict[str, object]], text: str) -> object:
    value: object = text
    for op in ops:
        value = run_op(value, op)
    return value


def test_a_separator_run_becomes_a_whitespace_tolerant_regex() -> None:
    (op,) = separator_candidates("red ; Green;blue", "red / Green / blue")
    assert op == {"op": "regex_replace", "pattern": r"\s*;\s*", "replacement": " / "}
    assert _apply([op], "a;  b ;c") == "a / b / c"


def test_separators_of_several_kinds_become_any_run_between_words() -> None:
    (op,) = separator_candidates("Dark, Stormy Night!", "Dark_Stormy_Night")
    assert op["pattern"] == r"\b\W+\b"
    assert _apply([op], "Big; Red  Dog?") == "Big_Red_Dog?"  # the edges are left alone


def test_no_separator_rewrite_unless_the_words_are_the_same() -> None:
    assert separator_candidates("a, b", "a, b") == []  # nothing to change
    assert separator_candidates("a, b", "b / a") == []  # another order: a rewrite's job
    assert separator_candidates("a, b", "a / b / c") == []  # a word added
    assert separator_candidates("a, b; c", "a / b - c") == []  # no single output gap


def test_a_field_is_extracted_on_the_context_every_input_shares() -> None:
    pairs = [
        ("GET /api?user=ada_king&page=2", "ada king"),
        ("GET /v2/?user=bob&lang=en", "bob"),
        ("POST /x?user=cy_d_e&n=1", "cy d e"),
    ]
    ops = field_candidates(pairs)
    assert ops and all(op["op"] == "regex_extract" for op in ops)
    assert all(str(op["pattern"]).startswith(r"\?user=") for op in ops)
    # Every proposal reads the field, whatever parameters surround it.
    for op in ops:
        assert run_op("PUT /y/z?user=zoe_q&sort=new&k=3", op) == "zoe_q"


def test_a_field_context_that_is_all_the_text_is_anchored() -> None:
    pairs = [("lib/net/http.rb", "net::http"), ("lib/app.rb", "app"), ("lib/a/b/c.rb", "a::b::c")]
    ops = field_candidates(pairs)
    assert {"op": "regex_extract", "pattern": r"^lib/(.*?)\.rb$", "group": 1} in ops
    assert all(run_op("lib/x/y.rb", op) == "x/y" for op in ops)


def test_no_field_without_agreement_or_without_the_words() -> None:
    assert field_candidates([("?q=a+b&x=1", "a b")]) == []  # one example is no agreement
    assert field_candidates([("?q=a+b&x=1", "a b"), ("?q=c&x=2", "zzz")]) == []
    assert field_candidates([("a b", "a b"), ("c d", "c d")]) == []  # no context at all


# The three pairs of lists below defeated the synthesis before separator
# normalisation, field extraction and the kind-diverse beam: it fitted the
# training pairs with rewrites tied to their spacing, field count or depth.


def test_synthesis_normalises_separators_and_case_in_one_proposal() -> None:
    pairs = [
        ("Red ;green", "red / green"),
        ("a; B ;c", "a / b / c"),
        ("One ;Two; three", "one / two / three"),
        ("x", "x"),
    ]
    ops = synthesize(pairs, random.Random(1))
    assert all(_apply(ops, a) == e for a, e in pairs)
    assert _apply(ops, "X ;y;  Zed") == "x / y / zed"
    assert _apply(ops, "P;q") == "p / q"


def test_synthesis_extracts_a_field_then_closes_the_residual() -> None:
    pairs = [
        ("GET /api?user=ada_king&page=2", "ada king"),
        ("GET /v2/?user=bob_ross_jr&lang=en", "bob ross jr"),
        ("POST /x?user=cy_d&n=1", "cy d"),
    ]
    ops = synthesize(pairs, random.Random(1))
    assert len(ops) >= 2 and ops[0]["op"] == "regex_extract"
    assert all(_apply(ops, a) == e for a, e in pairs)
    assert _apply(ops, "PUT /y/z?user=zoe_q_r&sort=new") == "zoe q r"
    assert _apply(ops, "GET /?user=al&x=y") == "al"


def test_synthesis_maps_a_path_to_a_dotted_name_of_any_depth() -> None:
    # A rewrite with one group per path part fits every training pair here;
    # only the extraction between the shared context keeps the beam to the end.
    pairs = [
        ("lib/net/http.rb", "net::http"),
        ("lib/app/x.rb", "app::x"),
        ("lib/a/b/c.rb", "a::b::c"),
    ]
    ops = synthesize(pairs, random.Random(1))
    assert all(_apply(ops, a) == e for a, e in pairs)
    assert _apply(ops, "lib/u.rb") == "u"
    assert _apply(ops, "lib/p/q/r/s.rb") == "p::q::r::s"


def test_initials_with_a_constant_mark_for_any_number_of_words() -> None:
    (op,) = initials_candidates("maria de souza", "M-D-S-")
    assert op == {"op": "regex_replace", "pattern": r"\b(\w)\w*\W*", "replacement": r"\1-"}
    assert initials_candidates("ab cd", "AC.") == []  # the marks differ
    assert initials_candidates("ab cd", "AB") == []  # not the first characters
    pairs = [("maria de souza", "M-D-S-"), ("li wei", "L-W-"), ("jo ann bo ra", "J-A-B-R-")]
    ops = synthesize(pairs, random.Random(1))
    assert _apply(ops, "tim o bell lee kay") == "T-O-B-L-K-"
