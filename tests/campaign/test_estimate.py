"""``evofarm estimate``: a range that contains what a run costs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from evofarm.campaign.estimate import estimate
from evofarm.campaign.spec import load_campaign
from evofarm.cli.main import app

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"


def _campaign(tmp_path: Path, model: str = "haiku", proposer: dict[str, str] | None = None) -> Path:
    (tmp_path / "seed.yaml").write_text(
        "workflow:\n  name: echo\n  steps:\n    - name: answer\n      type: claude\n"
        f"      model: {model}\n"
        "      prompt: [{type: static, content: 'Repeat: {{inputs.text}}'}]\n"
    )
    check = {"type": "contains", "value": "t"}
    cases = [{"id": f"c{i}", "inputs": {"text": f"t{i}"}, "checks": [check]} for i in range(4)]
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({"name": "s", "cases": cases}))
    spec = {"name": "e", "seeds": ["seed.yaml"], "suite": "suite.yaml",
            "evolution": {"population": 2, "offspring": 2, "generations": 3},
            "providers": {"claude": {"provider": "anthropic"}},
            "models": [{"slot": "claude", "model": "haiku", "input_usd_per_mtok": 1.0,
                        "output_usd_per_mtok": 5.0}]}  # fmt: skip
    if proposer is not None:
        spec["proposer"] = proposer
        spec["evolution"]["operators"] = {"prompt_evolution": 0.5, "llm_mutation": 0.5,
                                          "llm_crossover": 0.25}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "c.yaml"


def test_the_estimate_counts_calls_and_prices(tmp_path: Path) -> None:
    result = estimate(load_campaign(_campaign(tmp_path))).to_json()
    assert result["evaluations"] == 1 + 2 * 3
    assert result["llm_calls"] == 7 * 4
    assert 0 < result["usd"]["low"] < result["usd"]["high"]
    assert result["unpriced"] == []


def test_an_unpriced_model_is_named(tmp_path: Path) -> None:
    result = estimate(load_campaign(_campaign(tmp_path, "claude-unheard-of"))).to_json()
    assert result["unpriced"] == ["claude-unheard-of"]


def test_the_cli_prints_json_and_an_offline_campaign_costs_nothing() -> None:
    out = CliRunner().invoke(app, ["estimate", str(DEMO), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["usd"] == {"low": 0.0, "high": 0.0}


def test_a_missing_campaign_is_one_line(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["estimate", str(tmp_path / "nope.yaml")])
    assert out.exit_code == 2


def test_proposer_calls_are_counted_from_the_rates_and_the_meta_prompts(tmp_path: Path) -> None:
    plain = estimate(load_campaign(_campaign(tmp_path))).to_json()
    spec = load_campaign(_campaign(tmp_path, proposer={"provider": "anthropic", "model": "haiku"}))
    result = estimate(spec).to_json()
    proposer = result["proposer"]
    # 2 offspring x 3 generations: llm_mutation at 0.5 -> 3 calls, llm_crossover at 0.25 -> 2.
    assert proposer["calls"] == 5
    assert result["llm_calls"] == plain["llm_calls"] + 5
    assert result["tokens"]["low"] == plain["tokens"]["low"] + proposer["tokens"]["low"]
    assert result["usd"]["high"] == pytest.approx(plain["usd"]["high"] + proposer["usd"]["high"])
    # Each call sends at least the meta pipeline's own prompt (reflective_mutation
    # and breeding_chamber are a few thousand characters each).
    assert proposer["tokens"]["low"] > 5 * 300
    assert 0 < proposer["usd"]["low"] < proposer["usd"]["high"]


def test_an_offline_proposer_costs_nothing(tmp_path: Path) -> None:
    plain = estimate(load_campaign(_campaign(tmp_path))).to_json()
    result = estimate(load_campaign(_campaign(tmp_path, proposer={"provider": "mock"}))).to_json()
    assert result["proposer"]["calls"] == 0
    assert result["offline_calls"] == plain["offline_calls"] + 5
    assert result["usd"] == plain["usd"]
