"""A worker's shared case pool: more threads for a lone evaluation, no more waits in all,
and the very evaluations (split or not, redelivered or not) each evaluation's own threads give."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from celery.concurrency import get_implementation

from evofarm.campaign.bundle import Campaign, CampaignCache
from evofarm.campaign.worker import case_pool, work
from evofarm.evolution.genome import Genome
from evofarm.farm.config import FarmSettings
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval

Farm = tuple[MemoryStore, str, CampaignCache]


class PeakPool(ThreadPoolExecutor):
    """A real thread pool that also records the most calls it ran at once."""

    def __init__(self, threads: int) -> None:
        super().__init__(max_workers=threads)
        self._lock = threading.Lock()
        self.running = self.peak = self.calls = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def counted() -> Any:
            with self._lock:
                self.calls += 1
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1

        return super().submit(counted)


def _seed(store: MemoryStore, cache: CampaignCache, cid: str) -> tuple[Campaign, Genome]:
    campaign = cache.get(store, cid)
    gid = campaign.seed_genomes[0]
    return campaign, work.load_genomes(store, cid, [gid])[gid]


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once on threads of their own (as a worker's task threads)."""
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_task_slots_per_celery_pool() -> None:
    assert case_pool.task_slots(get_implementation("threads"), 8) == 8
    assert case_pool.task_slots(get_implementation("prefork"), 8) == 1  # a child runs one
    assert case_pool.task_slots(get_implementation("solo"), 8) == 1
    assert case_pool.task_slots("threads", 3) == 3
    assert case_pool.task_slots("threads", "auto") >= 1  # Celery resolves it to the cores


def test_the_process_pool_is_made_once() -> None:
    first = case_pool.shared(3)
    size = case_pool.size()
    assert case_pool.shared(7) is first and case_pool.size() == size
    with pytest.raises(ValueError, match="at least one thread"):
        case_pool.shared(0)


def test_a_lone_evaluation_uses_the_whole_pool(farm: Farm, monkeypatch: pytest.MonkeyPatch) -> None:
    store, cid, cache = farm
    monkeypatch.setenv(synthetic_eval.LATENCY_ENV, "0.02")
    campaign, genome = _seed(store, cache, cid)
    with PeakPool(8) as pool:
        shared = synthetic_eval.factory(2, case_pool=pool)(campaign, genome)
    assert pool.peak > 2  # more than its own case_concurrency
    assert shared == synthetic_eval.factory(2)(campaign, genome)


def test_evaluations_at_once_share_the_threads_and_keep_their_results(
    farm: Farm, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, cid, cache = farm
    monkeypatch.setenv(synthetic_eval.LATENCY_ENV, "0.005")
    campaign, seed = _seed(store, cache, cid)
    genomes = [seed.model_copy(update={"id": f"{i:064x}"}) for i in range(6)]
    alone = [synthetic_eval.factory(2)(campaign, g) for g in genomes]
    with PeakPool(4) as pool:  # 2 task threads x 2 cases, shared by 6 evaluations
        evaluator = synthetic_eval.factory(2, case_pool=pool)
        shared = _together([lambda g=g: evaluator(campaign, g) for g in genomes])
    assert pool.peak <= 4
    assert shared == alone
    assert [c.case_id for c in shared[0].cases] == sorted(c.case_id for c in shared[0].cases)


def test_split_evaluations_on_the_pool_merge_into_the_unsplit_one(farm: Farm) -> None:
    store, cid, cache = farm
    campaign, genome = _seed(store, cache, cid)
    whole = synthetic_eval.factory(2)(campaign, genome).model_dump(mode="json")
    request = work.EvalRequest(cid, genome.id, campaign.suite_id, campaign.fidelity, 0, shards=4)
    with ThreadPoolExecutor(max_workers=4) as pool:
        evaluator = work.resolve_evaluator("evofarm.testing.synthetic_eval:factory", 2, pool)
        parts = [*request.split(), request.split()[1]]  # one shard redelivered
        results = _together([lambda p=p: work.evaluate(store, cache, p, evaluator) for p in parts])
    assert whole in results
    assert store.get_evaluation(cid, request.key) == whole
    assert store.counters(cid)["evaluations"] == 1


def test_in_process_on_the_pool_scores_as_on_its_own_threads(farm: Farm) -> None:
    store, cid, cache = farm
    campaign, genome = _seed(store, cache, cid)
    own = work.in_process_evaluator(2)(campaign, genome)
    with PeakPool(6) as pool:
        evaluator = work.resolve_evaluator(work.IN_PROCESS, 2, pool)
        shared = evaluator(campaign, genome)
    # Every case ran on the shared pool (instant cases rarely overlap: no peak claim here).
    assert pool.calls == len(own.cases) > 2
    # Latencies are wall times (they differ run to run); what the checks say does not.
    assert (shared.test_rate, shared.gates, shared.outcome) == (
        own.test_rate,
        own.gates,
        own.outcome,
    )
    assert [(c.case_id, c.passed_checks, c.output_excerpt) for c in shared.cases] == [
        (c.case_id, c.passed_checks, c.output_excerpt) for c in own.cases
    ]


def test_factories_without_the_parameter_are_called_as_before(farm: Farm) -> None:
    store, cid, cache = farm
    campaign, genome = _seed(store, cache, cid)
    with PeakPool(4) as pool:
        plain = work.resolve_evaluator(f"{__name__}:plain_factory", 2, pool)
        assert plain(campaign, genome).genome_id == genome.id
    assert pool.peak == 0  # the plain factory's evaluator never saw the pool


def plain_factory(max_workers: int) -> work.GenomeEvaluator:
    """An evaluator factory of the old signature (``max_workers`` only)."""
    return synthetic_eval.factory(max_workers)


def test_the_setting_defaults_to_the_worker_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    assert FarmSettings().case_pool == "worker"
    monkeypatch.setenv("EVOFARM_CASE_POOL", "evaluation")
    assert FarmSettings().case_pool == "evaluation"
    monkeypatch.setenv("EVOFARM_CASE_POOL", "nope")
    with pytest.raises(ValueError, match="case_pool"):
        FarmSettings()
