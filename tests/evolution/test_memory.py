"""Collective memory, the pure part: mining winners, offering fragments, failure keys."""

from __future__ import annotations

from evofarm.evolution.memory import (
    failure_key,
    fragment_problem,
    mine_patterns,
    normalise_reason,
    offered_fragments,
)
from evofarm.pipeline.loader import MAX_PIPELINE_BYTES
from evofarm.pipeline.validate import PipelineLimits

PIPELINE = {
    "name": "p",
    "steps": [
        {"name": "a", "type": "transform", "input": "{{inputs.text}}",
         "operations": [{"op": "strip"}, {"op": "title"}]},
        {"name": "b", "type": "claude",
         "prompt": "Clean the name. Keep the order!\n{{steps.a.result}}"},
        {"name": "c", "type": "transform", "input": "{{steps.b.result}}",
         "operations": [{"op": "strip"}]},
    ],
}  # fmt: skip


def test_a_winner_is_cut_into_ops_structure_and_phrases() -> None:
    found = mine_patterns(PIPELINE, campaign="c1", genome="g1", fitness=0.9)
    by_kind: dict[str, list[object]] = {}
    for p in found:
        by_kind.setdefault(p.kind, []).append(p.fragment)
    assert by_kind["structure"] == [["transform", "claude", "transform"]]
    assert sorted(map(str, by_kind["ops"])) == sorted(
        map(str, [[{"op": "strip"}, {"op": "title"}], [{"op": "strip"}], [{"op": "title"}]])
    )  # the repeated [strip] is one pattern
    assert sorted(map(str, by_kind["phrase"])) == ["Clean the name.", "Keep the order!"]
    assert [p.key for p in found] == sorted(p.key for p in found)
    again = mine_patterns(PIPELINE, campaign="c2", genome="g2", fitness=0.5)
    assert [p.key for p in again] == [p.key for p in found]  # identity across campaigns


def test_offered_fragments_rank_by_winners_then_fitness() -> None:
    found = mine_patterns(PIPELINE, campaign="c1", genome="g1", fitness=0.9)
    ops = [p for p in found if p.kind == "ops"]
    boosted = [ops[0].model_copy(update={"winners": 3}), *ops[1:]]
    offered = offered_fragments(boosted, 2)
    assert len(offered) == 2 and list(offered[0]) == ops[0].fragment
    assert offered_fragments(found, 0) == ()


def test_failures_are_deduplicated_by_outcome_and_normalised_reason() -> None:
    assert normalise_reason("step 3 took 12.5s") == "step N took N.Ns"
    assert failure_key("timeout", "took 10s") == failure_key("timeout", "took 99s")
    assert failure_key("timeout", "took 10s") != failure_key("error", "took 10s")


def test_a_fragment_is_held_to_the_limits_of_a_users_pipeline() -> None:
    assert fragment_problem([{"op": "strip"}, {"op": "title"}]) is None
    # Same checks as a pipeline file: regex guard, schema, operation cap, shape, size.
    redos = fragment_problem([{"op": "regex_replace", "pattern": "(a+)+$", "replacement": ""}])
    assert redos is not None and "nested quantifiers" in redos
    assert "operations[0]" in str(fragment_problem([{"op": "no_such_op"}]))
    too_many = fragment_problem([{"op": "strip"}] * (PipelineLimits().max_operations + 1))
    assert too_many is not None
    assert fragment_problem([]) is not None
    assert fragment_problem(["strip"]) is not None
    assert fragment_problem({"op": "strip"}) is not None
    huge = fragment_problem([{"op": "strip", "chars": "x" * MAX_PIPELINE_BYTES}])
    assert huge is not None and "characters" in huge


def test_offered_fragments_leave_out_unsafe_ones_before_the_limit() -> None:
    found = mine_patterns(PIPELINE, campaign="c1", genome="g1", fitness=0.9)
    ops = [p for p in found if p.kind == "ops"]
    bad = ops[0].model_copy(
        update={"key": "0" * 24, "winners": 9,
                "fragment": [{"op": "regex_replace", "pattern": "(a*)*b", "replacement": ""}]}
    )  # fmt: skip
    offered = offered_fragments([bad, *ops], 2)
    assert len(offered) == 2
    assert all(list(f) != bad.fragment for f in offered)
    assert offered == offered_fragments(ops, 2)
