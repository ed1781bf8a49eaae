"""Collective memory, the pure part: mining winners, offering fragments, failure keys."""

from __future__ import annotations

from evofarm.evolution.memory import failure_key, mine_patterns, normalise_reason, offered_fragments

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
