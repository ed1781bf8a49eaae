"""A campaign whose evaluator is pure noise, for testing ``evolution.noise`` end to end.

:func:`write_noisy_campaign` writes a seed pipeline (a contact-record cleaner
made of transform steps, so the operators have something to change), a suite
whose every check is :mod:`evofarm.testing.noisy_check` (each passes half the
time, whatever the output) and the campaign, which loads that check as a
plugin. Every genome is truly equal, so a campaign that crowns a genome well
above the common mean crowned a lucky draw. The noise is a pure function of
(genome, sample, case, check), so the in-process loop and farm workers see the
same draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: The seed's output line: the three cleaned fields.
_LINE = "{{steps.clean_name.result}} <{{steps.clean_email.result}}> {{steps.clean_date.result}}"
_SEED = """\
workflow:
  name: contact-cleaner
  inputs: {name: "", email: "", joined: ""}
  steps:
    - {name: clean_name, type: transform, input: "{{inputs.name}}", operations: [{op: strip}]}
    - {name: clean_email, type: transform, input: "{{inputs.email}}", operations: [{op: strip}]}
    - {name: clean_date, type: transform, input: "{{inputs.joined}}", operations: [{op: strip}]}
    - name: record
      type: test_echo
      value: "LINE"
"""
SEED = _SEED.replace("LINE", _LINE)

#: Checks per case; the last one is required (it gates).
CHECKS = 4


def suite_doc(cases: int) -> dict[str, Any]:
    """The suite: ``cases`` cases of :data:`CHECKS` noisy checks (rate 0.5) each."""
    return {
        "name": "noise",
        "description": "Every genome passes each check half the time.",
        "cases": [
            {
                "id": f"c{i:02d}",
                "inputs": {"name": f" person {i} ", "email": f"p{i}@x.example", "joined": "2000"},
                "checks": [
                    {"type": "noisy", "label": f"n{j}", "rate": 0.5, "required": j == CHECKS - 1}
                    for j in range(CHECKS)
                ],
            }
            for i in range(cases)
        ],
    }


def write_noisy_campaign(
    directory: Path,
    noise: dict[str, Any] | None,
    *,
    generations: int = 5,
    cases: int = 24,
    seed: int = 1,
) -> Path:
    """Write seed.yaml, suite.yaml and campaign.yaml into ``directory``; the campaign path.

    Args:
        directory: where to write (created).
        noise: the campaign's ``evolution.noise`` (None: plain acceptance).
        generations: generations to run (no target fitness, no budgets).
        cases: cases in the suite.
        seed: the campaign seed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "seed.yaml").write_text(SEED, encoding="utf-8")
    (directory / "suite.yaml").write_text(yaml.safe_dump(suite_doc(cases)), encoding="utf-8")
    evolution: dict[str, Any] = {
        "population": 6,
        "offspring": 6,
        "generations": generations,
        "seed": seed,
        "selection": "mu_plus_lambda",
        "elitism": 1,
        "crossover_rate": 0.3,
        "operators": {"feature_insertion": 0.8, "step_mutation": 0.3, "sequence_reshuffle": 0.1},
        "max_steps": 8,
    }
    if noise is not None:
        evolution["noise"] = noise
    campaign = {
        "plugins": ["evofarm.testing.noisy_check"],
        "name": "noise",
        "seeds": ["seed.yaml"],
        "suite": "suite.yaml",
        "evolution": evolution,
        "providers": {"claude": {"provider": "mock"}},
        "budgets": {},
    }
    path = directory / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False), encoding="utf-8")
    return path
