"""``evofarm run CAMPAIGN --in-process``: outputs, progress, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from evofarm.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def campaign(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(
        "name: tiny\n"
        f"seeds: [{ROOT / 'pipelines/examples/contact-cleaner-seed.yaml'}]\n"
        f"suite: {ROOT / 'pipelines/suites/contacts.yaml'}\n"
        "evolution: {population: 4, generations: 2, seed: 3}\n" + extra
    )
    return path


def test_run_in_process_writes_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["run", str(campaign(tmp_path)), "--in-process", "--seed", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "tiny: completed" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 5 and summary["generations"] == 2
    assert (out / "best.yaml").read_text().startswith("workflow:")
    assert len((out / "fitness-history.jsonl").read_text().splitlines()) == summary["evaluations"]


def test_misspelt_key_is_one_clear_line(tmp_path: Path) -> None:
    path = campaign(tmp_path, "budgets: {max_evalutions: 3}\n")
    result = CliRunner().invoke(app, ["run", str(path), "--in-process"])
    assert result.exit_code == 2
    assert f"{path}:5:" in result.stderr
    assert "unknown key 'max_evalutions'" in result.stderr
    assert "Traceback" not in result.output + result.stderr
