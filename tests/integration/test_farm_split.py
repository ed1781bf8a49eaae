"""A split suite on a real farm: same winner as in-process, chosen on validation there too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports import final, readback
from evofarm.campaign.scheduler.driver import SchedulerOptions
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from evofarm.testing.synthetic_eval import loop_evaluator

pytestmark = pytest.mark.integration

Demo = Callable[..., CampaignSpec]
FAST = SchedulerOptions(wait_s=0.2, lease_ttl_s=3.0, lease_wait_s=5.0, stall_s=12.0)
CONTACTS = Path(__file__).resolve().parents[2] / "pipelines" / "suites" / "contacts.yaml"


def split_spec(demo: Demo, tmp_path: Path) -> CampaignSpec:
    suite = tmp_path / "contacts-split.yaml"
    suite.write_text(
        CONTACTS.read_text(encoding="utf-8") + "\nsplit: {validation: 0.25, seed: 2}\n",
        encoding="utf-8",
    )
    spec = demo(generations=3)
    return spec.model_copy(update={"suite": str(suite)})


def test_split_suite_same_winner_in_process_and_on_the_farm(
    farm: Farm, demo: Demo, tmp_path: Path
) -> None:
    spec = split_spec(demo, tmp_path)
    suite = spec.load_suite()
    held_out = suite.held_out()
    assert held_out is not None
    loop = run_in_process(
        spec,
        seed=5,
        evaluator=loop_evaluator(spec, suite.training()),
        validation_evaluator=loop_evaluator(spec, held_out),
    ).summary
    assert loop.best.validation is not None
    campaign = control.submit(farm.store, spec, seed=5)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == (loop.status, loop.reason)
    summary = readback.summary(farm.store, campaign)
    assert summary.best == loop.best
    assert summary.evaluations == loop.evaluations
    assert readback.best_pipeline(farm.store, campaign).name == "contact-cleaner"
    history = farm.store.read_history(campaign)
    # One row per evaluation, each marked with its split; validation rows on held-out cases.
    assert len(history) == farm.store.counters(campaign)["evaluations"] == loop.evaluations
    validation = [r for r in history if r.get("split") == "validation"]
    assert validation and {r["tests_total"] for r in validation} == {len(held_out.cases) * 4}
    keys = farm.store.evaluation_keys(campaign)
    assert {k.suite_id for k in keys} == {suite.training().id, held_out.id}
    assert final.decode(farm.store.get_info(campaign, final.INFO_FINAL)) is not None
