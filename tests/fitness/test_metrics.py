"""Meta-metrics against hand-computed values."""

from __future__ import annotations

from typing import Any

import pytest

from evofarm.fitness.metrics import (
    LineageSample,
    generation_metrics,
    generation_rate,
    innovation_distance,
    innovation_share,
    jaccard_distance,
    reusability_index,
    self_improvement_velocity,
    signatures,
    step_signature,
    structure_key,
)


def pipe(*steps: dict[str, Any], short: bool = False) -> dict[str, Any]:
    return {"steps": list(steps)} if short else {"workflow": {"name": "p", "steps": list(steps)}}


ECHO = {"name": "a", "type": "test_echo", "value": "x"}
UPPER = {
    "name": "b",
    "type": "transform",
    "input": "{{steps.a.result}}",
    "operations": [{"op": "upper"}],
}
STRIP = {
    "name": "c",
    "type": "transform",
    "input": "{{steps.a.result}}",
    "operations": [{"op": "strip"}],
}


def test_step_signature_ignores_name_and_description_only() -> None:
    renamed = {**ECHO, "name": "zz", "description": "something"}
    assert step_signature(renamed) == step_signature(ECHO)
    assert step_signature({**ECHO, "value": "y"}) != step_signature(ECHO)


def test_structure_key_is_order_sensitive_and_form_independent() -> None:
    assert structure_key(pipe(ECHO, UPPER)) == structure_key(pipe(ECHO, UPPER, short=True))
    assert structure_key(pipe(ECHO, UPPER)) != structure_key(pipe(UPPER, ECHO))
    assert signatures(pipe(ECHO, UPPER)) == signatures(pipe(UPPER, ECHO))
    assert signatures({"workflow": "garbage"}) == frozenset()


def test_generation_rate() -> None:
    assert generation_rate(30, 1.5) == pytest.approx(20.0)
    assert generation_rate(30, 0.0) == 0.0
    with pytest.raises(ValueError):
        generation_rate(-1, 1.0)


def test_innovation_share_counts_structurally_new_genomes() -> None:
    archive = {structure_key(pipe(ECHO, UPPER))}
    renamed = pipe({**ECHO, "name": "q"}, UPPER)
    assert innovation_share([renamed, pipe(ECHO, STRIP)], archive) == pytest.approx(0.5)
    assert innovation_share([], archive) == 0.0


def test_innovation_distance_is_mean_nearest_jaccard() -> None:
    sig = signatures(pipe(ECHO, UPPER))
    archive = [signatures(pipe(ECHO, UPPER, STRIP)), signatures(pipe({**ECHO, "value": "other"}))]
    # nearest: {e,u} vs {e,u,s} -> 1 - 2/3
    assert innovation_distance([pipe(ECHO, UPPER)], archive) == pytest.approx(1 / 3)
    assert innovation_distance([pipe(ECHO, UPPER)], []) == 1.0
    assert jaccard_distance(sig, sig) == 0.0
    assert jaccard_distance(frozenset(), frozenset()) == 0.0


def test_reusability_index() -> None:
    a, b, c, d, x = (frozenset({s}) for s in "abcdx")
    samples = [
        LineageSample(child=a | b | c, child_fitness=0.8, parents=((a | b, 0.5), (c | d, 0.6))),
        LineageSample(child=a | x, child_fitness=0.4, parents=((a, 0.5),)),
        LineageSample(child=x, child_fitness=0.9, parents=()),
    ]
    # inherited 3 (fitter) + 1 (not fitter) -> 3/4
    assert reusability_index(samples) == pytest.approx(0.75)
    assert reusability_index([]) == 0.0


@pytest.mark.parametrize(
    ("best", "gens", "slope"),
    [
        ([0.1, 0.3, 0.5], None, 0.2),
        ([1.0, 1.0, 1.0], None, 0.0),
        ([0.0, 1.0, 2.0], [0, 2, 4], 0.5),
        ([0.0, 1.0, 1.0, 3.0], None, 0.9),  # sxy 4.5 / sxx 5
        ([0.7], None, 0.0),
        ([0.1, 0.2], [3, 3], 0.0),
    ],
)
def test_self_improvement_velocity(
    best: list[float], gens: list[float] | None, slope: float
) -> None:
    assert self_improvement_velocity(best, gens) == pytest.approx(slope)


def test_velocity_length_mismatch() -> None:
    with pytest.raises(ValueError):
        self_improvement_velocity([0.1, 0.2], [1])


def test_generation_metrics_bundle() -> None:
    m = generation_metrics(
        generation=2,
        genomes=[pipe(ECHO, UPPER), pipe(ECHO, STRIP)],
        elapsed_s=4.0,
        archive=[pipe(ECHO, UPPER)],
        lineage=[],
        best_history=[0.2, 0.4, 0.6],
    )
    assert (m.genomes, m.generation_rate, m.innovation_share) == (2, 0.5, 0.5)
    assert m.innovation_distance == pytest.approx((0 + 2 / 3) / 2)
    assert m.self_improvement_velocity == pytest.approx(0.2)
    assert type(m).model_validate_json(m.model_dump_json()) == m
