"""benchmarks/search_quality.py: modes with selection options, and the campaigns it builds."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from evofarm.campaign.spec import load_campaign

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "search_quality.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("search_quality", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_quality"] = module
    spec.loader.exec_module(module)
    return module


def test_a_mode_names_a_strategy_and_its_options(bench: ModuleType) -> None:
    assert bench.parse_mode("random_search") == ("random_search", {})
    assert bench.parse_mode("random_search:feedback") == ("random_search", {"feedback": True})
    assert bench.parse_mode("random_search:feedback=false,max_operators=5") == (
        "random_search",
        {"feedback": False, "max_operators": 5},
    )
    for bad, why in [(":feedback", "no selection strategy"), ("rs:=1", "empty option name"),
                     ("rs:k=nope", "is not JSON")]:  # fmt: skip
        with pytest.raises(ValueError, match=why):
            bench.parse_mode(bad)


@pytest.mark.parametrize(
    ("mode", "options"),
    [("mu_plus_lambda", {}), ("random_search", {}), ("random_search:feedback", {"feedback": True})],
)
def test_the_campaign_of_a_mode_loads_with_its_options(
    bench: ModuleType, tmp_path: Path, mode: str, options: dict[str, object]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(bench.campaign_text("slug", mode, 40, 3))
    spec = load_campaign(path)
    assert spec.evolution.selection == mode.partition(":")[0]
    assert spec.evolution.selection_options == options
    assert (spec.evolution.seed, spec.budgets.max_evaluations) == (3, 40)


def test_a_bad_mode_is_one_clear_error(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        bench.main(["--modes", "random_search:k=nope", "--tasks", "slug"])
    assert info.value.code == 2
    assert "option 'k' value 'nope' is not JSON" in capsys.readouterr().err


def test_one_task_side_by_side(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    modes = ["mu_plus_lambda", "random_search", "random_search:feedback"]
    assert bench.main(["--modes", *modes, "--tasks", "slug", "--evaluations", "30"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["solve_rate"]) == set(modes) == set(out["wall_s"])
    assert set(out["ratio"]) == {"mu_plus_lambda/random_search",
                                 "mu_plus_lambda/random_search:feedback"}  # fmt: skip
    for mode in modes:
        run = out["per_task"]["slug"][mode]
        assert run["evaluations"] <= 30 + 16 and run["held_out_total"] > 0
