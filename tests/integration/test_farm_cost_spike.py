"""The farm scheduler sees a cost spike: history rows carry each evaluation's USD.

Real Redis store (the session's private server), the real scheduler and the
worker's own evaluate path (``work.evaluate`` on dispatcher threads). The
evaluator's figures stand for what the worker's relay counted; the genomes born
in generation 2 cost 50 times more than the others.
"""

from __future__ import annotations

from evofarm.campaign import control
from evofarm.campaign.bundle import Campaign
from evofarm.campaign.reports import anomaly_events
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.store.registry import open_shared_store
from evofarm.testing import synthetic_eval

from .conftest import small_demo

SPIKE = 2


def _priced(campaign: Campaign, genome: Genome) -> Evaluation:
    evaluation = synthetic_eval.factory(1)(campaign, genome)
    usd = 0.05 if genome.generation == SPIKE else 0.001
    return evaluation.model_copy(update={"cost_usd": usd})


def test_the_scheduler_flags_a_usd_spike_per_evaluation(redis_url: str) -> None:
    store = open_shared_store(redis_url)
    campaign = control.submit(store, small_demo(3), seed=5)
    dispatcher = ThreadDispatcher(store, _priced, workers=2)
    try:
        outcome = Scheduler(store, dispatcher, campaign, options=SchedulerOptions(wait_s=0.1)).run()
    finally:
        dispatcher.close()
    assert outcome.status == "completed"

    rows = store.read_history(campaign)
    by_generation = {int(r["generation"]): float(r["cost_usd"]) for r in rows}
    assert by_generation[0] == 0.001 and by_generation[SPIKE] == 0.05

    found = anomaly_events.stored(store, campaign)
    spikes = [a for a in found if a["kind"] == "cost_spike"]
    assert [a["generation"] for a in spikes] == [SPIKE], found
    assert "USD per evaluation 0.05, 50.0x the earlier median" in spikes[0]["message"]
    assert not any("tokens per evaluation" in a["message"] for a in spikes)
