"""An operator, a selection strategy and a check type from a module outside evofarm.

The module is written to the test's tmp dir and imported with
:func:`evofarm.registry.import_plugins` (what ``EVOFARM_PLUGINS`` does); no
file of evofarm names it, yet campaigns and suites use what it registers.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from evofarm.campaign.local.loop import run_in_process
from evofarm.errors import SuiteError
from evofarm.evolution.config import EvolutionConfig
from evofarm.evolution.operators.registry import OPERATORS
from evofarm.evolution.selection.registry import SELECTION_STRATEGIES
from evofarm.fitness.check_registry import CHECKS
from evofarm.fitness.runner import evaluate_pipeline
from evofarm.fitness.suite import load_suite_text
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.schema import Pipeline
from evofarm.registry import import_plugins

from .test_engine import fake_evaluate, spec_with

PLUGIN = """
from __future__ import annotations

from typing import Any, Literal

from evofarm.evolution.genome import MutationRecord
from evofarm.evolution.operators.registry import register_operator
from evofarm.evolution.selection.breeding import GenerationalStrategy
from evofarm.evolution.selection.registry import register_selection
from evofarm.fitness.check_base import CheckBase
from evofarm.fitness.check_registry import register_check_type

CALLS = {"operator": 0, "survivors": 0, "check": 0}


@register_operator("plugin_describe", 0.5, "rewrite the pipeline's description")
def describe(genome, rng, context):
    CALLS["operator"] += 1
    data = {**genome.pipeline, "description": f"variant {rng.randrange(10**6)}"}
    record = MutationRecord(operator="plugin_describe", rationale="plugin")
    return genome.derive(data, record, context.generation)


@register_selection("plugin_keep_best")
class KeepBest(GenerationalStrategy):
    def survivors(self, parents, offspring, config, rng):
        CALLS["survivors"] += 1
        pool = {m.id: m for m in [*parents, *offspring]}
        return sorted(pool.values(), key=lambda m: (-m.fitness, m.id))[: config.population]


@register_check_type
class LengthCheck(CheckBase):
    type: Literal["plugin_length"] = "plugin_length"
    max: int

    def test(self, value: Any, ctx: Any) -> tuple[bool, str, float | None]:
        CALLS["check"] += 1
        return len(str(value)) <= self.max, f"{len(str(value))} chars", None
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    name = f"evo_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import_plugins([name])
    try:
        yield sys.modules[name]
    finally:
        OPERATORS.unregister("plugin_describe")
        SELECTION_STRATEGIES.unregister("plugin_keep_best")
        CHECKS.unregister("plugin_length")
        sys.modules.pop(name, None)


def test_plugin_operator_and_strategy_drive_an_in_process_campaign(plugin: ModuleType) -> None:
    # The campaign's names are checked against the registries, plugins included.
    evolution = EvolutionConfig.model_validate(
        {"selection": "plugin_keep_best", "operators": {"plugin_describe": 1.0},
         "crossover_rate": 0.0, "population": 4, "offspring": 4, "generations": 3}
    )  # fmt: skip
    spec = spec_with(**evolution.model_dump())
    result = run_in_process(spec, seed=1, evaluator=fake_evaluate)
    assert result.summary.generations == 3
    assert plugin.CALLS["operator"] >= 12 and plugin.CALLS["survivors"] == 3
    assert result.summary.evaluations > len(spec.seed_paths)


def test_plugin_check_type_scores_a_suite_and_typos_are_located(plugin: ModuleType) -> None:
    text = (
        "name: s\ncases:\n  - id: a\n    inputs: {text: hi}\n"
        "    checks:\n      - {type: plugin_length, max: 3}\n"
    )
    suite = load_suite_text(text)
    pipeline = load_pipeline_text(
        "name: echo\nsteps:\n  - name: out\n    type: test_echo\n    value: '{{inputs.text}}'\n"
    )

    def runner(_: Pipeline, case: Any) -> dict[str, Any]:
        value = str(case.inputs["text"]) * 2
        return {"status": "completed", "output": value, "steps": {}, "usage": {}}

    evaluation = evaluate_pipeline(pipeline, suite, case_runner=runner)
    (check,) = evaluation.cases[0].checks
    assert (check.type, check.passed, check.detail) == ("plugin_length", False, "4 chars")
    assert plugin.CALLS["check"] == 1
    with pytest.raises(SuiteError) as info:
        load_suite_text(text.replace("plugin_length", "plugin_lenght"), source="s.yaml")
    assert info.value.location.line == 6
    assert info.value.location.key == "cases[0].checks[0].type"
    assert "did you mean 'plugin_length'" in str(info.value)


def test_unknown_names_without_the_plugin_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown selection strategy 'plugin_keep_best'"):
        EvolutionConfig.model_validate({"selection": "plugin_keep_best"})
    with pytest.raises(ValueError, match="unknown operator 'plugin_describe'"):
        EvolutionConfig.model_validate({"operators": {"plugin_describe": 1.0}})
