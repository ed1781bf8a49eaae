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
from collections.abc import Callable
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import Campaign, parse_sample, sample_fidelity
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports import readback
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Outcome, Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.campaign.worker import work
from evofarm.evolution.engine import EvolutionState
from evofarm.evolution.genome import Genome
from evofarm.evolution.steady_noise import wanted_samples
from evofarm.fitness.records import Evaluation
from evofarm.store.base import JSONDoc
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


def _cut_at(
    store: MemoryStore,
    dispatcher: ThreadDispatcher,
    cid: str,
    cut: Callable[[EvolutionState], bool],
) -> EvolutionState:
    """Run until a checkpoint ``cut`` picks is written, cancelled right then; return it.

    The cancel ends the run at the ending check right after the write, before
    any job due after it is sent: a scheduler cut off between the two.
    """
    scheduler = Scheduler(store, dispatcher, cid, options=OPTIONS)
    original = store.save_checkpoint
    picked: list[EvolutionState] = []

    def save_then_cancel(*args: object, **kwargs: object) -> bool:
        written = original(*args, **kwargs)  # type: ignore[arg-type]
        state = EvolutionState.model_validate(args[2])
        if not picked and cut(state):
            picked.append(state)
            scheduler.cancel()
        return written

    store.save_checkpoint = save_then_cancel  # type: ignore[method-assign]
    try:
        outcome = scheduler.run()
    finally:
        dispatcher.close()
        store.save_checkpoint = original  # type: ignore[method-assign]
    assert picked, "no checkpoint to cut at"
    assert (outcome.status, outcome.reason) == ("stopped", "interrupted")
    return picked[0]


def _checkpoint_state(store: MemoryStore, cid: str, generation: int) -> JSONDoc:
    checkpoint = store.load_checkpoint(cid, generation)
    assert checkpoint is not None
    return checkpoint.state


def _samples_counted(store: MemoryStore, cid: str) -> EvolutionState:
    """The last checkpoint, whose memo counts exactly the samples stored (no job cut off)."""
    state = _accounted(store, cid)
    stored = [k for k in store.evaluation_keys(cid) if parse_sample(k.fidelity)[1] > 0]
    assert state.noise is not None and state.noise.job is None
    assert sum(n - 1 for n in state.noise.samples.values()) == len(stored)
    return state


def test_a_scheduler_cut_off_with_the_elites_due_resamples_them_after_resume(
    tmp_path: Path,
) -> None:
    spec = _noisy(tmp_path, lam=1, generations=12)
    config = spec.evolution.noise
    assert config is not None
    loop = run_in_process(spec, seed=4)
    store = MemoryStore()
    cid = control.submit(store, spec, seed=4)

    def elites_due(state: EvolutionState) -> bool:
        return state.generation >= 2 and state.noise is not None and state.noise.elites_due

    one_slot = ThreadDispatcher(store, work.in_process_evaluator(), workers=1)
    cut = _cut_at(store, one_slot, cid, elites_due)
    # One slot: the challenger's job settled before the write; the elites' comes next.
    assert cut.noise is not None and not wanted_samples(cut, config, elites=False)
    elites = wanted_samples(cut, config, elites=True)
    assert elites
    # Cut off before the elites' job went out: none of its samples is stored.
    stored = {(k.genome_id, parse_sample(k.fidelity)[1]) for k in store.evaluation_keys(cid)}
    assert all((g, cut.noise.count(g)) not in stored for g in elites)
    outcome, _ = _run(store, ThreadDispatcher(store, work.in_process_evaluator(), workers=1), cid)
    assert (outcome.status, outcome.reason) == (loop.summary.status, loop.summary.reason)
    after = EvolutionState.model_validate(_checkpoint_state(store, cid, cut.generation + 1))
    assert after.noise is not None
    assert all(after.noise.count(g) >= n for g, n in elites.items())
    # The resumed run decided exactly as the uninterrupted loop.
    state = _samples_counted(store, cid)
    assert loop.state is not None and state.noise == loop.state.noise
    assert state.best_history == loop.state.best_history
    assert readback.summary(store, cid).best == loop.summary.best


class HeldSamples(ThreadDispatcher):
    """The real evaluator on one thread; resamples after the seeds' are held, never run.

    A steady job then stays out while births go on, so a checkpoint is written
    with it out, and the run cut off there has stored none of its samples."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store, work.in_process_evaluator(), workers=1)
        self.held: list[work.EvalRequest] = []

    def send_evaluate(self, request: work.EvalRequest, task_id: str) -> None:
        if parse_sample(request.fidelity)[1] and request.generation > 0:
            self.held.append(request)
            self.store.remove_inflight(request.campaign, [task_id])
        else:
            super().send_evaluate(request, task_id)


# Seeds whose state moves on while the job is out (births told after it was sent).
@pytest.mark.parametrize("seed", [6, 7])
def test_a_job_out_at_a_checkpoint_is_sent_again_after_resume_and_counted_once(
    tmp_path: Path, seed: int
) -> None:
    spec = _noisy(tmp_path, lam=6, generations=6)
    config = spec.evolution.noise
    assert config is not None
    store = MemoryStore()
    cid = control.submit(store, spec, seed=seed)

    def job_out(state: EvolutionState) -> bool:
        return state.noise is not None and state.noise.job is not None

    held = HeldSamples(store)
    cut = _cut_at(store, held, cid, job_out)
    assert cut.noise is not None and cut.noise.job is not None and held.held
    job = cut.noise.job
    # The memo does not count the job, the store holds none of it, and the state
    # has moved on: only the record names it now.
    assert all(cut.noise.count(g) < n for g, n in job.items())
    stored = {(k.genome_id, parse_sample(k.fidelity)[1]) for k in store.evaluation_keys(cid)}
    assert not any((g, cut.noise.count(g)) in stored for g in job)
    assert wanted_samples(cut, config, elites=False) != job
    dispatcher = ThreadDispatcher(store, work.in_process_evaluator(), workers=3)
    outcome, _ = _run(store, dispatcher, cid)
    assert (outcome.status, outcome.reason) == ("completed", "ran 6 generations")
    # The resumed run drew the job and settled it; every sample is counted once.
    state = _samples_counted(store, cid)
    assert state.noise is not None and all(state.noise.count(g) >= n for g, n in job.items())
    assert state.noise.champion == state.archive[0].id


def test_samples_stored_beyond_the_checkpoint_are_adopted_on_resume(tmp_path: Path) -> None:
    spec = _noisy(tmp_path, lam=1, generations=8)
    config = spec.evolution.noise
    assert config is not None
    store = MemoryStore()
    cid = control.submit(store, spec, seed=4)
    extra: list[tuple[str, int]] = []

    def store_a_later_sample(state: EvolutionState) -> bool:
        """At generation 2's checkpoint, a job the cut-off run started after it stores a
        later sample of an uncrowned genome, with a gap before it: no checkpoint counts it."""
        if state.generation != 2:
            return False
        assert state.noise is not None
        gid = next(m.id for m in state.population if m.id != state.noise.champion)
        count = state.noise.count(gid)
        first = next(k for k in store.evaluation_keys(cid) if k.genome_id == gid)
        fidelity = sample_fidelity(parse_sample(first.fidelity)[0], count + 1)
        request = work.EvalRequest(cid, gid, first.suite_id, fidelity, state.generation + 1)
        sampler = ThreadDispatcher(store, work.in_process_evaluator(), workers=1)
        sampler.send_evaluate(request, "cut-off-sample")
        sampler.close()
        assert store.get_evaluation(cid, request.key) is not None
        extra.append((gid, count))
        return True

    one_slot = ThreadDispatcher(store, work.in_process_evaluator(), workers=1)
    cut = _cut_at(store, one_slot, cid, store_a_later_sample)
    [(gid, count)] = extra
    assert count + 2 <= config.samples
    outcome, _ = _run(store, ThreadDispatcher(store, work.in_process_evaluator(), workers=1), cid)
    assert (outcome.status, outcome.reason) == ("completed", "ran 8 generations")
    # Adopted at once: the gap drawn, the genome's samples counted up to the stored one.
    after = EvolutionState.model_validate(_checkpoint_state(store, cid, cut.generation + 1))
    assert after.noise is not None and after.noise.count(gid) >= count + 2
    _samples_counted(store, cid)
