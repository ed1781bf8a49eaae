"""Anomaly detection: each kind from a small, hand-made set of signals; the hooks store them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from evofarm.campaign import control
from evofarm.campaign.anomalies import KINDS, HistoryDigest, Signals, Thresholds, detect
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports import anomaly_events
from evofarm.campaign.reports.anomaly_events import ANOMALIES
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import load_campaign
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"


def kinds(s: Signals) -> list[str]:
    return [a.kind for a in detect(s)]


def test_a_healthy_generation_shows_nothing() -> None:
    s = Signals(
        generation=3,
        generation_best=[0.4, 0.5, 0.55, 0.6],
        median=[0.3, 0.35, 0.4, 0.42],
        population=["a", "b", "c", "d"],
        population_genes=[["x", "y"], ["x", "z"], ["q"], ["y", "w"]],
        operators_before={"m": (10, 9)},
        operators_now={"m": (20, 18)},
        tokens_per_eval=[100, 110, 90, 105],
        idle_s=1.0,
        median_eval_s=0.5,
        workers_online=2,
        queued={"evaluate": 3},
    )
    assert detect(s) == []


def test_fitness_collapse_of_best_and_median() -> None:
    s = Signals(generation=3, generation_best=[0.8, 0.8, 0.8, 0.3], median=[0.5, 0.5, 0.5, 0.1])
    found = detect(s)
    assert [a.kind for a in found] == ["fitness_collapse", "fitness_collapse"]
    assert "best fitness fell to 0.3000" in found[0].message and found[0].generation == 3


def test_diversity_collapse() -> None:
    assert kinds(Signals(generation=1, population=["a"] * 8 + ["b"])) == ["diversity_collapse"]
    near = Signals(generation=1, population=list("abcd"), population_genes=[["x", "y"]] * 4)
    assert kinds(near) == ["diversity_collapse"]


def test_operator_whose_valid_child_rate_drops() -> None:
    s = Signals(generation=2, operators_before={"m": (10, 10)}, operators_now={"m": (20, 11)})
    found = detect(s)
    assert [a.kind for a in found] == ["operator_degraded"] and "operator m" in found[0].message
    few = Signals(generation=2, operators_before={"m": (10, 10)}, operators_now={"m": (12, 10)})
    assert detect(few) == []  # two attempts say nothing


def test_cost_and_token_spikes() -> None:
    s = Signals(generation=3, tokens_per_eval=[100, 100, 120, 900], cost_per_eval=[1, 1, 1, 2])
    assert kinds(s) == ["cost_spike"]


def test_stall_and_no_worker() -> None:
    stalled = Signals(generation=1, idle_s=500, median_eval_s=2.0)
    assert kinds(stalled) == ["stalled"]
    assert kinds(Signals(generation=1, idle_s=50, median_eval_s=2.0)) == []  # under 60 s
    idle = Signals(generation=0, workers_online=0, queued={"evaluate": 4, "breed": 0})
    found = detect(idle)
    assert [a.message for a in found] == ["no worker is consuming queue evaluate (4 tasks waiting)"]
    assert kinds(Signals(generation=0, workers_online=None, queued={"evaluate": 4})) == []


def test_thresholds_and_kinds_are_the_documented_ones() -> None:
    assert set(KINDS) == {
        "fitness_collapse",
        "diversity_collapse",
        "operator_degraded",
        "cost_spike",
        "stalled",
        "no_worker",
    }
    loose = Thresholds(collapse_drop=0.9)
    assert detect(Signals(generation=1, generation_best=[0.8, 0.3]), loose) == []


def _spec(generations: int = 3):  # type: ignore[no-untyped-def]
    spec = load_campaign(DEMO)
    return spec.model_copy(
        update={"evolution": spec.evolution.model_copy(update={"generations": generations})}
    )


def test_the_scheduler_hook_stores_one_record_per_generation() -> None:
    store = MemoryStore()
    campaign = control.submit(store, _spec(), seed=4)
    dispatcher = ThreadDispatcher(store, synthetic_eval.factory(1), workers=2)
    Scheduler(store, dispatcher, campaign, options=SchedulerOptions(wait_s=0.1)).run()
    dispatcher.close()
    for generation in range(4):
        record = store.task_results(campaign, generation, ANOMALIES)
        assert set(record) == {0} and isinstance(record[0]["anomalies"], list)
    assert anomaly_events.stored(store, campaign) == [
        a for g in range(4) for a in store.task_results(campaign, g, ANOMALIES)[0]["anomalies"]
    ]
    # an ended campaign has no live anomaly, whatever the broker says
    assert anomaly_events.live(store, campaign, workers_online=0, queued={"evaluate": 9}) == []


def test_live_no_worker_for_a_campaign_nobody_serves() -> None:
    store = MemoryStore()
    campaign = control.submit(store, _spec(), seed=4)
    found = anomaly_events.live(store, campaign, workers_online=0, queued={"evaluate": 2})
    assert [a["kind"] for a in found] == ["no_worker"]
    later = anomaly_events.live(
        store,
        campaign,
        workers_online=1,
        queued={},
        now=store.get_campaign(campaign).created_at + 600,  # type: ignore[union-attr]
    )
    assert [a["kind"] for a in later] == ["stalled"]


def test_the_loop_hook_runs_every_generation(tmp_path: Path) -> None:
    spec = _spec(2)
    result = run_in_process(
        spec,
        seed=5,
        out_dir=tmp_path,
        evaluator=synthetic_eval.loop_evaluator(spec, spec.load_suite()),
    )
    written = tmp_path / "anomalies.jsonl"
    rows = [json.loads(x) for x in written.read_text().splitlines()] if written.exists() else []
    assert rows == result.anomalies
    assert all(r["kind"] in KINDS for r in rows)


def _row(gen: int, fitness: float, tokens: int, ms: float, ts: float, **more: object) -> dict:
    return {
        "generation": gen,
        "fitness": fitness,
        "tokens": tokens,
        "time_ms": ms,
        "ts": ts,
        **more,
    }


def test_a_history_digest_sums_each_generation_as_its_rows_say() -> None:
    rows = [
        _row(0, 0.2, 10, 1000, 5.0, cost_usd=0.01),
        _row(1, 0.4, 20, 3000, 7.0, cost_usd=0.02),
        _row(1, 0.8, 40, 2000, 6.0, cost_usd=0.04),
        _row(1, 0.6, 30, 4000, 8.0, cost_usd=0.03),
        _row(3, 0.9, 50, 5000, 9.0),  # no cost kept: generation 3 has no cost figure
        _row(4, 1.0, 60, 6000, 10.0, cost_usd=0.01),  # after the generation asked about
    ]
    digest = HistoryDigest.of(rows[:2])
    digest.extend(rows[2:])  # in pieces or at once: the same digest
    assert digest.rows == 6 and digest.last_ts == 10.0
    assert digest.per_generation(3) == [
        (0.2, 0.2, 10.0, 0.01),
        (0.8, 0.6, 30.0, 0.03),
        (None, None, None, None),
        (0.9, 0.9, 50.0, None),
    ]
    assert digest.median_eval_s() == 3.5  # every row's time, even ones after generation 3
    assert HistoryDigest().median_eval_s() is None
    assert HistoryDigest.of(rows).per_generation(3) == digest.per_generation(3)


class _TailCountingStore(MemoryStore):
    """A memory store noting where each history read starts and how many rows it returns."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[int, int]] = []

    def read_history(self, campaign: str, start: int = 0) -> list[dict]:  # type: ignore[override]
        rows = super().read_history(campaign, start)
        self.reads.append((start, len(rows)))
        return rows


def test_the_scheduler_hook_reads_each_history_row_once() -> None:
    store = _TailCountingStore()
    campaign = control.submit(store, _spec(6), seed=4)
    dispatcher = ThreadDispatcher(store, synthetic_eval.factory(1), workers=2)
    Scheduler(store, dispatcher, campaign, options=SchedulerOptions(wait_s=0.1)).run()
    dispatcher.close()
    total = len(store.read_history(campaign))
    hook_reads = [r for r in store.reads if r[0] > 0]  # the tails after the first checkpoint
    assert len(hook_reads) >= 5
    # Every tail starts where the one before ended: no row is read twice by the hook.
    for (start, count), (next_start, _) in itertools.pairwise(hook_reads):
        assert next_start == start + count
    assert hook_reads[-1][0] + hook_reads[-1][1] <= total
