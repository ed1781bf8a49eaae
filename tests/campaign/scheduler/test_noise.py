"""``evolution.noise`` in the farm scheduler, on threads and the memory store (fast).

The real in-process evaluator runs a suite whose checks are noise fixed per
(genome, sample) (:mod:`evofarm.testing.noisy_check`), so the scheduler must
crown what the in-process loop crowns, whatever is delivered twice and however
often it resumes from its checkpoint. tests/integration/test_farm_noise.py runs
the same on real workers and Redis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import parse_sample
from evofarm.campaign.local.loop import CampaignResult, run_in_process
from evofarm.campaign.reports import readback
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Outcome, Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.campaign.worker import work
from evofarm.errors import StoreUnreachable
from evofarm.store.memory import MemoryStore
from evofarm.testing.noisy_campaign import write_noisy_campaign
from tests.campaign.scheduler.helpers import checkpoint_state, run_closing

NOISE = {"samples": 4, "elites": 2, "confidence": 0.99}
OPTIONS = SchedulerOptions(wait_s=0.1)


class Twice(ThreadDispatcher):
    """Delivers every evaluate task twice (a redelivery after a lost ack)."""

    def send_evaluate(self, request: work.EvalRequest, task_id: str) -> None:
        super().send_evaluate(request, task_id)
        super().send_evaluate(request, task_id + "-again")


class CutOnce(ThreadDispatcher):
    """The store "goes away" once, while resamples of a later generation are sent."""

    cut = False

    def send_evaluate(self, request: work.EvalRequest, task_id: str) -> None:
        if not self.cut and request.generation >= 2 and parse_sample(request.fidelity)[1] == 2:
            self.cut = True
            raise StoreUnreachable("cut for the test")
        super().send_evaluate(request, task_id)


def _spec(tmp_path: Path, generations: int = 4, **budgets: Any) -> CampaignSpec:
    path = write_noisy_campaign(tmp_path, NOISE, generations=generations, cases=16)
    spec = load_campaign(path)
    return spec.model_copy(update={"budgets": spec.budgets.model_copy(update=budgets)})


def _run(store: MemoryStore, dispatcher: ThreadDispatcher, cid: str) -> tuple[Outcome, Scheduler]:
    return run_closing(store, dispatcher, cid, OPTIONS)


def _assert_like(store: MemoryStore, cid: str, loop: CampaignResult, outcome: Outcome) -> None:
    assert (outcome.status, outcome.reason) == (loop.summary.status, loop.summary.reason)
    summary = readback.summary(store, cid)
    assert summary.best == loop.summary.best
    assert summary.evaluations == loop.summary.evaluations
    assert store.counters(cid)["evaluations"] == len(store.evaluation_keys(cid))
    assert loop.state is not None
    assert checkpoint_state(store, cid).noise == loop.state.noise


def test_redelivered_samples_count_once_and_crown_as_in_process(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    loop = run_in_process(spec, seed=4)
    assert loop.summary.evaluations > len(loop.evaluations)  # it resampled
    store = MemoryStore()
    cid = control.submit(store, spec, seed=4)
    outcome, _ = _run(store, Twice(store, work.in_process_evaluator()), cid)
    _assert_like(store, cid, loop, outcome)
    assert store.counters(cid)["duplicates"] > 0


def test_resumed_from_the_checkpoint_mid_resampling_it_crowns_the_same(tmp_path: Path) -> None:
    spec = _spec(tmp_path, generations=5)
    loop = run_in_process(spec, seed=6)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=6)
    dispatcher = CutOnce(store, work.in_process_evaluator())
    outcome, scheduler = _run(store, dispatcher, cid)
    assert dispatcher.cut and scheduler.recoveries == 1
    _assert_like(store, cid, loop, outcome)


@pytest.mark.parametrize("cap", [30, 45])
def test_resamples_count_against_the_evaluation_cap_as_in_process(tmp_path: Path, cap: int) -> None:
    spec = _spec(tmp_path, generations=30, max_evaluations=cap)
    loop = run_in_process(spec, seed=2)
    assert loop.summary.reason.startswith("budget exceeded: evaluations")
    store = MemoryStore()
    cid = control.submit(store, spec, seed=2)
    outcome, _ = _run(store, ThreadDispatcher(store, work.in_process_evaluator()), cid)
    _assert_like(store, cid, loop, outcome)
