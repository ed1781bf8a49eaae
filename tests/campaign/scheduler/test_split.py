"""Split evaluations in the scheduler: the same campaign, lone evaluations spread over tasks."""

from __future__ import annotations

import pytest

from evofarm.campaign import control
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.engine import EvolutionState
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval
from tests.campaign.scheduler.test_driver import _spec

# Scores each case on its own (24 cases): its evaluations may be split.
EVALUATOR = synthetic_eval.factory(1)


def _mode(spec: CampaignSpec, mode: str) -> CampaignSpec:
    evolution = spec.evolution.model_copy(update={"mode": mode})
    return spec.model_copy(update={"evolution": evolution})


def _run(mode: str, split_cases: int, workers: int) -> tuple[MemoryStore, str, int]:
    store = MemoryStore()
    cid = control.submit(store, _mode(_spec(generations=3), mode), seed=5)
    dispatcher = ThreadDispatcher(store, EVALUATOR, workers=workers)
    options = SchedulerOptions(wait_s=0.2, split_cases=split_cases, spread=8)
    try:
        assert Scheduler(store, dispatcher, cid, options=options).run().status == "completed"
    finally:
        dispatcher.close()
    return store, cid, dispatcher.sent


def _state(store: MemoryStore, cid: str) -> dict[str, object]:
    checkpoint = store.load_checkpoint(cid)
    assert checkpoint is not None
    return EvolutionState.model_validate(checkpoint.state).model_dump(exclude={"campaign"})


# Generational results never depend on timing; steady ones do, so one worker there.
@pytest.mark.parametrize(("mode", "workers"), [("generational", 4), ("steady", 1)])
def test_splitting_changes_the_tasks_not_the_campaign(mode: str, workers: int) -> None:
    split, cid_split, sent_split = _run(mode, split_cases=2, workers=workers)
    whole, cid_whole, sent_whole = _run(mode, split_cases=0, workers=workers)
    assert _state(split, cid_split) == _state(whole, cid_whole)
    keys = sorted(k.genome_id for k in split.evaluation_keys(cid_split))
    assert keys == sorted(k.genome_id for k in whole.evaluation_keys(cid_whole))
    for key in split.evaluation_keys(cid_split):
        assert split.get_evaluation(cid_split, key) == whole.get_evaluation(cid_whole, key)
    assert split.counters(cid_split)["evaluations"] == whole.counters(cid_whole)["evaluations"]
    # The seed alone is spread over 8 tasks (3 cases each) instead of one.
    assert sent_split >= sent_whole + 7
    assert split.inflight(cid_split) == set()
