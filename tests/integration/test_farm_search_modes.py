"""Search modes of issue 16 on a real farm: the same best as in-process for the same seed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from evofarm.campaign import control
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.campaign.scheduler.driver import SchedulerOptions
from evofarm.campaign.spec import CampaignSpec
from evofarm.farm.runner import run_scheduler
from evofarm.farm.session import Farm
from evofarm.testing.synthetic_eval import loop_evaluator

pytestmark = pytest.mark.integration

Demo = Callable[..., CampaignSpec]

FAST = SchedulerOptions(wait_s=0.2, lease_ttl_s=3.0, lease_wait_s=5.0, stall_s=12.0)


def _with_evolution(spec: CampaignSpec, **update: object) -> CampaignSpec:
    return spec.model_copy(update={"evolution": spec.evolution.model_copy(update=update)})


def _same_best_on_the_farm(farm: Farm, spec: CampaignSpec, seed: int) -> str:
    """Run ``spec`` in-process and on the farm; assert the same best; the farm campaign's id."""
    result = run_in_process(spec, seed=seed, evaluator=loop_evaluator(spec, spec.load_suite()))
    campaign = control.submit(farm.store, spec, seed=seed)
    outcome = run_scheduler(farm, campaign, options=FAST)
    assert (outcome.status, outcome.reason) == (result.summary.status, result.summary.reason)
    top = best_genome_id(farm.store, campaign)
    assert top is not None and top[0] == result.summary.best.genome
    counters = farm.store.counters(campaign)
    assert counters.get("evaluations", 0) == result.summary.evaluations
    return campaign


def test_an_island_campaign_gives_the_in_process_best(farm: Farm, demo: Demo) -> None:
    colonies = [{}, {"role": "scout"}, {"role": "specialist", "crossover_rate": 0.0}]
    options = {"count": 3, "migration_interval": 2, "migrants": 1, "topology": "random",
               "colonies": colonies}  # fmt: skip
    spec = _with_evolution(demo(generations=4), selection="islands", selection_options=options)
    _same_best_on_the_farm(farm, spec, seed=13)


@pytest.mark.parametrize("feedback", [False, True])
def test_random_search_blind_or_with_feedback_gives_the_in_process_best(
    farm: Farm, demo: Demo, feedback: bool
) -> None:
    # The demo rates reflective_mutation 0.5: a blind campaign must never apply it.
    options = {"max_operators": 3, "feedback": feedback}
    spec = _with_evolution(
        demo(generations=3), selection="random_search", selection_options=options
    )
    campaign = _same_best_on_the_farm(farm, spec, seed=7)
    checkpoint = farm.store.load_checkpoint(campaign)
    assert checkpoint is not None
    stats = checkpoint.state["operator_stats"]
    assert stats and ("reflective_mutation" in stats) is feedback
