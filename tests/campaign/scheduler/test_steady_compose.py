"""Steady state with ``evolution.nursery`` and ``evolution.noise`` in the farm scheduler.

On threads and the memory store. With one birth open at a time (lambda 1) and
one worker slot, evaluations complete in the loop's order, so the scheduler
must decide exactly as the in-process loop; with more slots the order is
timing's, and what must hold is the accounting: no case run twice, every
evaluation counted once, the crown honest. tests/integration/test_farm_steady_compose.py
runs the same on real workers and Redis.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import Campaign, parse_sample
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports import readback
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Outcome, Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.campaign.worker import work
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.genome import Genome
from evofarm.fitness.records import Evaluation
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval
from evofarm.testing.noisy_campaign import write_noisy_campaign
from tests.campaign.scheduler.helpers import checkpoint_state as _state
from tests.campaign.scheduler.helpers import run_closing, run_interrupted
from tests.campaign.scheduler.test_nursery import in_process, nursery_spec

OPTIONS = SchedulerOptions(wait_s=0.05)
NOISE = {"samples": 4, "elites": 2, "confidence": 0.99}


def steady(spec: CampaignSpec, lam: int) -> CampaignSpec:
    evolution = spec.evolution.model_copy(update={"mode": "steady", "offspring": lam})
    return spec.model_copy(update={"evolution": evolution})


class Counting(ThreadDispatcher):
    """The synthetic evaluator on ``workers`` threads, counting every case it runs."""

    def __init__(self, store: MemoryStore, workers: int) -> None:
        inner = synthetic_eval.factory(1)
        self.runs: Counter[tuple[str, str]] = Counter()
        lock = threading.Lock()

        def evaluator(campaign: Campaign, genome: Genome) -> Evaluation:
            with lock:
                self.runs.update((genome.id, c.id) for c in campaign.suite.cases)
            return inner(campaign, genome)

        super().__init__(store, evaluator, workers=workers)


def _run(store: MemoryStore, dispatcher: ThreadDispatcher, cid: str) -> tuple[Outcome, Scheduler]:
    return run_closing(store, dispatcher, cid, OPTIONS)


def test_one_slot_nursery_decides_as_the_loop() -> None:
    spec = steady(nursery_spec(generations=24), lam=1)
    local = in_process(spec, seed=3)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=3)
    dispatcher = Counting(store, workers=1)
    outcome, _ = _run(store, dispatcher, cid)
    assert (outcome.status, outcome.reason) == (local.summary.status, local.summary.reason)
    summary = readback.summary(store, cid)
    assert summary.best == local.summary.best
    state = _state(store, cid)
    assert local.state is not None and state.counters == local.state.counters
    assert state.counters.culled > 0 and state.steady == local.state.steady
    assert max(dispatcher.runs.values()) == 1
    assert summary.case_runs == sum(dispatcher.runs.values()) == local.case_runs
    assert summary.evaluations == local.summary.evaluations


def _noisy(tmp_path: Path, lam: int, generations: int) -> CampaignSpec:
    spec = load_campaign(write_noisy_campaign(tmp_path, NOISE, generations=generations, cases=16))
    return steady(spec, lam)


def test_one_slot_noise_crowns_and_counts_as_the_loop(tmp_path: Path) -> None:
    spec = _noisy(tmp_path, lam=1, generations=16)
    loop = run_in_process(spec, seed=4)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=4)
    dispatcher = ThreadDispatcher(store, work.in_process_evaluator(), workers=1)
    outcome, _ = _run(store, dispatcher, cid)
    assert (outcome.status, outcome.reason) == (loop.summary.status, loop.summary.reason)
    summary = readback.summary(store, cid)
    assert summary.best == loop.summary.best
    assert summary.evaluations == loop.summary.evaluations > len(loop.evaluations)  # resampled
    state = _state(store, cid)
    assert loop.state is not None and state.noise == loop.state.noise
    assert state.best_history == loop.state.best_history


def _accounted(store: MemoryStore, cid: str) -> EvolutionState:
    """Every evaluation counted once; history rows for the first samples of full ones only."""
    keys = store.evaluation_keys(cid)
    full = [k for k in keys if k.fidelity == "1.0"]
    assert store.counters(cid)["evaluations"] == len(full) + sum(
        1 for k in keys if parse_sample(k.fidelity)[1] > 0
    )
    rows = [r for r in store.read_history(cid) if r.get("split", "train") == "train"]
    assert len(rows) == len({r["genome"] for r in rows}) == len(full)
    assert store.inflight(cid) == set()
    state = _state(store, cid)
    assert state.steady is not None and state.steady.open == []
    counters = state.counters
    told = counters.offspring + counters.duplicates + counters.discarded + counters.culled
    assert told == counters.tasks == state.steady.told
    return state


@pytest.mark.parametrize("seed", [1, 2])
def test_many_slots_nursery_runs_each_case_once_and_culls(seed: int) -> None:
    spec = steady(nursery_spec(generations=5), lam=8)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=seed)
    dispatcher = Counting(store, workers=3)
    outcome, _ = _run(store, dispatcher, cid)
    assert (outcome.status, outcome.reason) == ("completed", "ran 5 generations")
    state = _accounted(store, cid)
    assert state.counters.culled > 0 and state.counters.tasks == 5 * 8
    assert max(dispatcher.runs.values()) == 1
    assert readback.summary(store, cid).case_runs == sum(dispatcher.runs.values())


def test_many_slots_noise_crowns_the_honest_seed(tmp_path: Path) -> None:
    spec = _noisy(tmp_path, lam=6, generations=5)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=2)
    dispatcher = ThreadDispatcher(store, work.in_process_evaluator(), workers=3)
    outcome, _ = _run(store, dispatcher, cid)
    assert (outcome.status, outcome.reason) == ("completed", "ran 5 generations")
    state = _accounted(store, cid)
    seed = Genome.from_pipeline(spec.load_seeds()[0]).id
    assert state.noise is not None and state.noise.champion == seed == state.archive[0].id
    assert max(state.noise.samples.values()) == 4


def test_nursery_and_noise_together_resume_after_an_interruption(tmp_path: Path) -> None:
    noisy = _noisy(tmp_path, lam=6, generations=6)
    nursery = nursery_spec().evolution.nursery
    spec = noisy.model_copy(
        update={"evolution": noisy.evolution.model_copy(update={"nursery": nursery})}
    )
    store = MemoryStore()
    cid = control.submit(store, spec, seed=5)
    dispatcher = ThreadDispatcher(store, work.in_process_evaluator(), workers=3)
    first = run_interrupted(store, dispatcher, cid, OPTIONS, generation=2)
    assert (first.status, first.reason) == ("stopped", "interrupted")
    outcome, _ = _run(store, ThreadDispatcher(store, work.in_process_evaluator(), workers=3), cid)
    assert (outcome.status, outcome.reason) == ("completed", "ran 6 generations")
    state = _accounted(store, cid)
    assert state.counters.tasks == 6 * 6 and state.counters.culled > 0
    assert state.noise is not None and state.noise.samples


@pytest.mark.parametrize("cap", [25, 40])
def test_resamples_count_against_the_evaluation_cap(tmp_path: Path, cap: int) -> None:
    noisy = _noisy(tmp_path, lam=6, generations=30)
    spec = noisy.model_copy(
        update={"budgets": noisy.budgets.model_copy(update={"max_evaluations": cap})}
    )
    loop = run_in_process(spec, seed=2)
    assert loop.summary.reason.startswith("budget exceeded: evaluations")
    store = MemoryStore()
    cid = control.submit(store, spec, seed=2)
    outcome, _ = _run(store, ThreadDispatcher(store, work.in_process_evaluator(), workers=3), cid)
    assert outcome.status == "stopped" and outcome.reason.startswith("budget exceeded: evaluations")
    state = _accounted(store, cid)
    assert state.noise is not None and state.noise.samples
    # The final phase's evaluations (finalists, a simplified winner) come on top, as README says.
    for evaluations in (loop.summary.evaluations, readback.summary(store, cid).evaluations):
        assert evaluations <= cap + 5
