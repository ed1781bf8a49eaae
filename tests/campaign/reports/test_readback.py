"""Reading a farm campaign back: snapshots, the output files, best and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.local.loop import run_in_process
from evofarm.campaign.reports import readback as report
from evofarm.campaign.scheduler.dispatcher import ThreadDispatcher
from evofarm.campaign.scheduler.driver import Scheduler, SchedulerOptions
from evofarm.campaign.spec import load_campaign
from evofarm.errors import CampaignStateError
from evofarm.pipeline.loader import dump_pipeline, load_pipeline
from evofarm.store.memory import MemoryStore
from evofarm.testing import synthetic_eval

DEMO = Path(__file__).resolve().parents[3] / "pipelines" / "campaigns" / "demo.yaml"


@pytest.fixture(scope="module")
def finished() -> tuple[MemoryStore, str]:
    spec = load_campaign(DEMO)
    spec = spec.model_copy(
        update={"evolution": spec.evolution.model_copy(update={"generations": 3})}
    )
    store = MemoryStore()
    campaign = control.submit(store, spec, seed=9)
    dispatcher = ThreadDispatcher(store, synthetic_eval.factory(1), workers=2)
    Scheduler(store, dispatcher, campaign, options=SchedulerOptions(wait_s=0.1)).run()
    dispatcher.close()
    return store, campaign


def test_snapshot(finished: tuple[MemoryStore, str]) -> None:
    store, campaign = finished
    snap = report.snapshot(store, campaign)
    assert (snap.status, snap.generation, snap.generations) == ("completed", 3, 3)
    assert snap.reason == "ran 3 generations"
    assert snap.evaluations == store.counters(campaign)["evaluations"]
    assert snap.best_fitness is not None and snap.tokens > 0
    with pytest.raises(CampaignStateError):
        report.snapshot(store, "nope")


def test_outputs_match_the_in_process_files(
    finished: tuple[MemoryStore, str], tmp_path: Path
) -> None:
    store, campaign = finished
    summary = report.write_outputs(store, campaign, tmp_path / "farm")
    spec = load_campaign(DEMO)
    spec = spec.model_copy(
        update={"evolution": spec.evolution.model_copy(update={"generations": 3})}
    )
    local = run_in_process(
        spec,
        seed=9,
        out_dir=tmp_path / "local",
        evaluator=synthetic_eval.loop_evaluator(spec, spec.load_suite()),
    )
    assert summary.best == local.summary.best
    assert (summary.evaluations, summary.tokens, summary.case_runs) == (
        local.summary.evaluations,
        local.summary.tokens,
        local.summary.case_runs,
    )
    assert summary.case_runs > 0
    assert (tmp_path / "farm/best.yaml").read_text() == (tmp_path / "local/best.yaml").read_text()

    def rows(directory: Path) -> list[tuple[object, ...]]:
        lines = (directory / "fitness-history.jsonl").read_text().splitlines()
        return [
            tuple(v for k, v in json.loads(x).items() if k not in {"ts", "campaign"}) for x in lines
        ]

    assert rows(tmp_path / "farm") == rows(tmp_path / "local")

    def generations(directory: Path) -> list[dict[str, object]]:
        lines = (directory / "generations.jsonl").read_text().splitlines()
        found = []
        for line in lines:
            row = json.loads(line)
            del row["campaign"]
            for timed in ("elapsed_s", "generation_rate"):  # wall-clock figures differ
                del row["metrics"][timed]
            found.append(row)
        return found

    assert generations(tmp_path / "farm") == generations(tmp_path / "local")
    written = json.loads((tmp_path / "farm/summary.json").read_text())
    assert written["campaign"] == campaign and written["status"] == "completed"


def test_best_and_export(finished: tuple[MemoryStore, str], tmp_path: Path) -> None:
    store, campaign = finished
    best = report.best_pipeline(store, campaign)
    (tmp_path / "best.yaml").write_text(dump_pipeline(best))
    assert load_pipeline(tmp_path / "best.yaml") == best
    history, lineage = report.export(store, campaign, tmp_path / "export")
    assert len(history.read_text().splitlines()) == store.counters(campaign)["evaluations"]
    data = json.loads(lineage.read_text())
    generations = [e["generation"] for e in data["edges"]]
    assert generations == sorted(generations) and set(generations) <= {1, 2, 3}
    born = {n["id"]: n["generation"] for n in data["nodes"]}
    assert all(born[e["parent"]] < born[e["child"]] for e in data["edges"])
    pairs = [(e["parent"], e["child"]) for e in data["edges"]]
    assert len(pairs) == len(set(pairs))
    assert all(e["operator"] not in {"mutate", "crossover"} for e in data["edges"])
    assert {n["operator"] for n in data["nodes"] if n["generation"] == 0} == {"seed"}


def test_generations_start_with_the_seeds(
    finished: tuple[MemoryStore, str], tmp_path: Path
) -> None:
    store, campaign = finished
    report.write_outputs(store, campaign, tmp_path)
    rows = [json.loads(x) for x in (tmp_path / "generations.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in rows] == [0, 1, 2, 3]
    assert rows[0]["evaluations"] == sum(
        1 for r in store.read_history(campaign) if r["generation"] == 0
    )
    ops = rows[-1]["operators"]
    assert ops and all(o["valid_child_rate"] == o["success_rate"] for o in ops.values())


def test_summary_of_a_running_campaign_is_refused(tmp_path: Path) -> None:
    store = MemoryStore()
    campaign = control.submit(store, load_campaign(DEMO), seed=1)
    with pytest.raises(CampaignStateError, match="still submitted"):
        report.summary(store, campaign)
    with pytest.raises(CampaignStateError, match="no evaluated genome"):
        report.best_pipeline(store, campaign)
