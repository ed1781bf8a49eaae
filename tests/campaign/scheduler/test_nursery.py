"""The farm's nursery against the in-process loop, on threads and the memory store.

The synthetic evaluator scores every case from (genome, case), so the staged
evaluations are deterministic and the farm must reproduce the loop exactly:
the same best, the same culled children, the same case runs and history.
tests/integration/test_farm_nursery.py runs the same on real workers and Redis.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import Campaign, CampaignCache, fidelity_key
from evofarm.campaign.local.loop import CampaignResult, run_in_process
from evofarm.campaign.reports import readback
from evofarm.campaign.scheduler.checkpoints import TIMING
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.campaign.worker import work
from evofarm.evolution.config import EvolutionConfig
from evofarm.evolution.genome import Genome
from evofarm.evolution.nursery import NurseryConfig
from evofarm.fitness.records import Evaluation
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"
STAGES = {"stages": [{"fraction": 0.2, "promote": 0.5}, {"fraction": 0.5, "promote": 0.5}]}
OPTIONS = SchedulerOptions(wait_s=0.05)


def nursery_spec(generations: int = 5, stages: dict[str, Any] | None = None) -> CampaignSpec:
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={"generations": generations, "population": 6, "offspring": 8,
                "target_fitness": None,
                "nursery": NurseryConfig.model_validate(stages or STAGES)}
    )  # fmt: skip
    budgets = spec.budgets.model_copy(update={"max_evaluations": None, "max_wall_s": None})
    return spec.model_copy(update={"evolution": evolution, "budgets": budgets})


def in_process(spec: CampaignSpec, seed: int, out: Path | None = None) -> CampaignResult:
    training = spec.load_suite().training()
    return run_in_process(
        spec,
        seed=seed,
        out_dir=out,
        evaluator=synthetic_eval.loop_evaluator(spec, training),
        staged_evaluator=synthetic_eval.loop_staged_evaluator(spec, training),
    )


class Recording(ThreadDispatcher):
    """A thread dispatcher that counts case runs and records evaluate requests."""

    def __init__(self, store: MemoryStore, runs: Counter[tuple[str, str]]) -> None:
        inner = synthetic_eval.factory(1)

        def evaluator(campaign: Campaign, genome: Genome) -> Evaluation:
            with self.lock:
                runs.update((genome.id, c.id) for c in campaign.suite.cases)
            return inner(campaign, genome)

        super().__init__(store, evaluator, workers=3)
        self.lock = threading.Lock()
        self.requests: list[work.EvalRequest] = []
        #: Decides whether a request is sent (False: it is lost, as with a dying scheduler).
        self.on_send: Callable[[work.EvalRequest], bool] | None = None

    def close(self) -> None:
        """Wait for all the work sent, queued work included (none is lost)."""
        self._pool.shutdown(wait=True)

    def send_evaluate(self, request: work.EvalRequest, task_id: str) -> None:
        self.requests.append(request)
        if self.on_send is None or self.on_send(request):
            super().send_evaluate(request, task_id)


def _run(store: MemoryStore, campaign: str, runs: Counter[tuple[str, str]]) -> Recording:
    dispatcher = Recording(store, runs)
    try:
        Scheduler(store, dispatcher, campaign, options=OPTIONS).run()
    finally:
        dispatcher.close()
    return dispatcher


@pytest.mark.parametrize("seed", [1, 4])
def test_the_farm_nursery_reproduces_the_loop(seed: int, tmp_path: Path) -> None:
    spec = nursery_spec()
    local = in_process(spec, seed, tmp_path / "local")
    store = MemoryStore()
    campaign = control.submit(store, spec, seed=seed)
    runs: Counter[tuple[str, str]] = Counter()
    _run(store, campaign, runs)
    summary = readback.write_outputs(store, campaign, tmp_path / "farm")
    assert summary.best == local.summary.best
    assert (summary.evaluations, summary.tokens) == (
        local.summary.evaluations,
        local.summary.tokens,
    )
    # Case runs: counted by the store as the workers ran them, each case once.
    assert summary.case_runs == local.case_runs == sum(runs.values())
    assert max(runs.values()) == 1
    checkpoint = store.load_checkpoint(campaign)
    assert checkpoint is not None and local.state is not None
    culled = checkpoint.state["counters"]["culled"]
    assert culled == local.state.counters.culled > 0
    # Each generation's case runs so far are kept with its timing (for reports).
    so_far = [
        store.task_results(campaign, g, TIMING)[0]["case_runs"]
        for g in range(1, checkpoint.generation + 1)
    ]
    assert so_far == sorted(set(so_far)) and so_far[-1] <= summary.case_runs
    # Same history rows and generation rows (culled children in neither).
    for name in ("fitness-history.jsonl", "generations.jsonl"):
        assert _rows(tmp_path / "farm" / name) == _rows(tmp_path / "local" / name)
    written = json.loads((tmp_path / "farm/summary.json").read_text())
    assert (
        written["case_runs"]
        == json.loads((tmp_path / "local/summary.json").read_text())["case_runs"]
    )


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        for volatile in ("ts", "campaign"):
            row.pop(volatile, None)
        for timed in ("elapsed_s", "generation_rate"):
            row.get("metrics", {}).pop(timed, None)
        rows.append(row)
    return rows


def test_culled_children_have_partial_evaluations_and_lineage_only(tmp_path: Path) -> None:
    spec = nursery_spec(generations=3)
    store = MemoryStore()
    campaign = control.submit(store, spec, seed=2)
    _run(store, campaign, Counter())
    c = CampaignCache().get(store, campaign)
    full = {k.genome_id for k in store.evaluation_keys(campaign) if k.fidelity == c.fidelity}
    staged = {k.genome_id for k in store.evaluation_keys(campaign) if k.fidelity != c.fidelity}
    culled = staged - full
    assert culled
    assert {str(r["genome"]) for r in store.read_history(campaign)} == full
    assert culled <= {str(e["child"]) for e in store.lineage(campaign)}
    assert store.counters(campaign)["evaluations"] == len(full)


@pytest.mark.parametrize("at", ["stage 2", "full"])
def test_a_scheduler_stepping_back_mid_nursery_is_resumed_re_sending_only_what_is_missing(
    at: str,
) -> None:
    spec = nursery_spec(generations=4)
    local = in_process(spec, seed=3)
    store = MemoryStore()
    campaign = control.submit(store, spec, seed=3)
    runs: Counter[tuple[str, str]] = Counter()
    first = Recording(store, runs)
    scheduler = Scheduler(store, first, campaign, options=OPTIONS)
    # Mid stage 2, or once one of the generation's children is fully evaluated
    # (the resumed nursery must still rank the whole cohort): from there on,
    # requests are lost and the scheduler steps back, as a service shutting down does.
    where = fidelity_key(0.5 * spec.fidelity if at == "stage 2" else spec.fidelity)
    let_through = 0 if at == "stage 2" else 1
    seen: list[work.EvalRequest] = []

    def interrupt(request: work.EvalRequest) -> bool:
        if request.generation == 2 and request.fidelity == where:
            seen.append(request)
        if len(seen) > let_through:
            scheduler.step_back()
            return False
        return True

    first.on_send = interrupt
    try:
        outcome = scheduler.run()
    finally:
        first.close()
    assert (outcome.status, outcome.reason) == ("running", "handed back")
    stored = store.evaluation_keys(campaign)
    if at == "full":
        assert seen[0].key in stored  # a child of the interrupted cohort was fully evaluated
    second = _run(store, campaign, runs)
    sent = [r.key for r in second.requests]
    assert sent and not set(sent) & stored  # only what was missing
    assert min(r.generation for r in second.requests) == 2
    summary = readback.summary(store, campaign)
    assert summary.best == local.summary.best
    assert summary.case_runs == local.case_runs == sum(runs.values())
    assert max(runs.values()) == 1
    checkpoint = store.load_checkpoint(campaign)
    assert checkpoint is not None and local.state is not None
    assert checkpoint.state["counters"]["culled"] == local.state.counters.culled


def test_the_farm_takes_a_nursery_campaign_in_either_mode() -> None:
    store = MemoryStore()
    campaign = control.submit(store, nursery_spec())
    assert CampaignCache().get(store, campaign).spec.evolution.nursery is not None
    config = EvolutionConfig.model_validate(
        {"mode": "steady", "selection": "mu_plus_lambda", "nursery": STAGES}
    )
    assert config.nursery is not None and config.mode == "steady"


def test_the_evaluation_cap_counts_every_new_child_as_the_loop_does() -> None:
    # The loop refuses a generation whose new children (culled ones included)
    # could pass the cap; only full evaluations count as evaluations.
    spec = nursery_spec(generations=30)
    spec = spec.model_copy(
        update={"budgets": spec.budgets.model_copy(update={"max_evaluations": 20})}
    )
    local = in_process(spec, 5)
    store = MemoryStore()
    campaign = control.submit(store, spec, seed=5)
    _run(store, campaign, Counter())
    ended = readback.summary(store, campaign)
    assert (ended.status, ended.reason) == (local.summary.status, local.summary.reason)
    assert ended.reason.startswith("budget exceeded: evaluations")
    assert (ended.best, ended.evaluations, ended.case_runs) == (
        local.summary.best,
        local.summary.evaluations,
        local.case_runs,
    )
