"""evaluate_pipeline with a meter: usage figures come from the meter, never the trace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evofarm.fitness.metered import MeteredUsage
from evofarm.fitness.runner import (
    CaseFailed,
    default_case_runner,
    evaluate_pipeline,
    per_case_runtimes,
)
from evofarm.fitness.suite import load_suite_text
from evofarm.fitness.suite_models import Case
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.runtime import Runtime
from evofarm.pipeline.schema import Pipeline
from evofarm.providers.registry import ProviderSet

ECHO = load_pipeline_text(
    "name: echo\nsteps:\n  - name: out\n    type: test_echo\n    value: '{{inputs.text}}'\n"
)
SUITE = load_suite_text(
    """\
name: metered
budgets: {tokens_per_case: 10, time_ms_per_case: 100}
cases:
  - {id: a, inputs: {text: alpha}, checks: [{type: equals, value: alpha}]}
  - {id: b, inputs: {text: beta}, checks: [{type: equals, value: beta}]}
"""
)
METERED = {
    "a": MeteredUsage(input_tokens=15, output_tokens=5, cost_usd=0.002, latency_ms=50.0),
    "b": MeteredUsage(input_tokens=4, output_tokens=1, cost_usd=0.001, latency_ms=400.0),
}


def _meter(case: Case) -> MeteredUsage:
    return METERED[case.id]


def test_the_meter_replaces_the_traces_usage(tmp_path: Path) -> None:
    runtime = Runtime(providers=ProviderSet.for_provider("mock"), workspace=tmp_path)
    factory = per_case_runtimes(runtime)
    plain = evaluate_pipeline(ECHO, SUITE, runtime_factory=factory)
    assert plain.tokens == 0 and plain.efficiency == 1.0  # the echo step spends nothing
    ev = evaluate_pipeline(ECHO, SUITE, runtime_factory=factory, meter=_meter)
    a, b = ev.cases
    assert (a.input_tokens, a.output_tokens, a.tokens, a.latency_ms) == (15, 5, 20, 50.0)
    assert (b.tokens, b.latency_ms, b.cost_usd) == (5, 400.0, 0.001)
    # a: tokens 2x budget (0.5), time within (1.0); b: tokens within, time 4x (0.25).
    assert (a.efficiency, b.efficiency) == (0.75, 0.625)
    assert ev.efficiency == pytest.approx(0.6875)
    assert ev.score == pytest.approx(0.5 + 0.25 + 0.25 * 0.6875)
    assert ev.objectives["tokens"] == 12.5
    assert ev.objectives["latency"] == 225.0
    assert ev.objectives["cost"] == pytest.approx(0.0015)


def test_a_failed_case_still_counts_what_it_spent(tmp_path: Path) -> None:
    runtime = Runtime(providers=ProviderSet.for_provider("mock"), workspace=tmp_path)
    inner = default_case_runner(per_case_runtimes(runtime))

    def runner(pipeline: Pipeline, case: Case) -> Any:
        if case.id == "b":  # a trace claiming nothing was spent
            raise CaseFailed("timeout", "too slow", trace={"usage": {"input_tokens": 0}})
        return inner(pipeline, case)

    ev = evaluate_pipeline(ECHO, SUITE, case_runner=runner, meter=_meter)
    assert [c.outcome for c in ev.cases] == ["ok", "timeout"]
    assert ev.cases[1].tokens == 5 and ev.cases[1].efficiency == 0.0
    assert ev.tokens == 25


def test_metered_usage_is_never_negative() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        MeteredUsage(input_tokens=-1, output_tokens=0, cost_usd=0.0, latency_ms=0.0)
