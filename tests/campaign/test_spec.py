"""Campaign files: validation with file, line and key; paths relative to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from evofarm.campaign.spec import ApprovalPolicy, load_campaign
from evofarm.errors import CampaignSpecError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "pipelines" / "campaigns" / "demo.yaml"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "seed.yaml").write_text(
        (ROOT / "pipelines/examples/contact-cleaner-seed.yaml").read_text()
    )
    (tmp_path / "suite.yaml").write_text((ROOT / "pipelines/suites/contacts.yaml").read_text())
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    return path


BASE = "name: t\nseeds: [seed.yaml]\nsuite: suite.yaml\n"


def test_demo_loads_with_paths_relative_to_the_file() -> None:
    spec = load_campaign(DEMO)
    assert spec.name == "demo"
    assert spec.seed_paths == [ROOT / "pipelines/examples/contact-cleaner-seed.yaml"]
    assert spec.suite_path == ROOT / "pipelines/suites/contacts.yaml"
    assert len(spec.load_suite().cases) == 24
    assert spec.load_seeds()[0].name == "contact-cleaner"
    assert [c.model for c in spec.model_choices()] == ["haiku", "sonnet"]


def test_misspelt_top_level_key_names_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "budgest:\n  max_evaluations: 3\n")
    with pytest.raises(CampaignSpecError) as info:
        load_campaign(path)
    message = str(info.value)
    assert f"{path}:4:" in message
    assert "unknown key 'budgest'" in message
    assert "did you mean 'budgets'" in message


def test_misspelt_nested_key_names_its_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "evolution:\n  population: 4\n  generatoins: 3\n")
    with pytest.raises(CampaignSpecError) as info:
        load_campaign(path)
    assert info.value.location.line == 6
    assert info.value.location.key == "evolution.generatoins"
    assert "did you mean 'generations'" in str(info.value)


@pytest.mark.parametrize(
    ("extra", "line", "fragment"),
    [
        ("evolution:\n  operators: {step_mutaton: 0.5}\n", 5, "unknown operator 'step_mutaton'"),
        ("evolution:\n  population: 0\n", 5, "greater than or equal to 1"),
        ("evolution:\n  population: 2\n  elitism: 3\n", 6, "elitism (3) cannot exceed"),
        ("fitness:\n  weights: {test_rate: 0.9, gates: 0.9, efficiency: 0}\n", 5, "sum to 1"),
        ("budgets: {max_usd: -1}\n", 4, "greater than 0"),
        ("providers: {claude: {provider: openai}}\n", 4, "expected"),
        ("sandbox: {wall_timeout_s: 0}\n", 4, "greater than 0"),
    ],
)
def test_bad_values_are_located(tmp_path: Path, extra: str, line: int, fragment: str) -> None:
    path = write(tmp_path, BASE + extra)
    with pytest.raises(CampaignSpecError) as info:
        load_campaign(path)
    assert fragment in str(info.value)
    assert info.value.location.line == line


def test_missing_key_and_missing_files(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\nseeds: [seed.yaml]\n")
    with pytest.raises(CampaignSpecError, match="missing required key 'suite'"):
        load_campaign(path)
    path = write(tmp_path, "name: t\nseeds: [seed.yaml, nope.yaml]\nsuite: suite.yaml\n")
    with pytest.raises(CampaignSpecError, match=r"nope\.yaml does not exist") as info:
        load_campaign(path)
    assert info.value.location.line == 2
    with pytest.raises(CampaignSpecError, match="no such file"):
        load_campaign(tmp_path / "absent.yaml")
    path = write(tmp_path, "- just\n- a list\n")
    with pytest.raises(CampaignSpecError, match="must be a mapping"):
        load_campaign(path)


def test_approval_policy() -> None:
    assert ApprovalPolicy().decide(1.0) == "pending"
    auto = ApprovalPolicy(policy="auto", min_fitness=0.9)
    assert auto.decide(0.95) == "approved"
    assert auto.decide(0.5) == "rejected"
    assert auto.decide(None) == "rejected"
