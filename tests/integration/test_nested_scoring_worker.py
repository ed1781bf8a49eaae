"""pipeline_executor in a farm evaluation: a real worker scores the nested pipeline.

One Celery worker with the ``sandbox`` evaluator evaluates a meta pipeline
whose ``pipeline_executor`` step scores a produced pipeline on a suite named
``inner``. The sandboxed candidate cannot read that suite (it lives beside the
campaign's suite, on the worker's side); it asks its worker over the pipe,
which evaluates the produced pipeline in a sandbox of its own and returns the
scores only. The outer suite checks them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

from evofarm.campaign import control
from evofarm.campaign.bundle import CampaignCache
from evofarm.campaign.lifecycle import EVENTS
from evofarm.campaign.spec import load_campaign
from evofarm.campaign.worker.work import EVALUATED, EvalRequest
from evofarm.farm.embedded import EmbeddedFarm
from tests.integration.conftest import started_farm

pytestmark = [pytest.mark.integration]

META = """\
name: meta
inputs: {child: ""}
steps:
  - name: genesis
    type: test_echo
    value: "{{inputs.child}}"
  - name: evaluate
    type: pipeline_executor
    pipeline_source: genesis
    suite: inner
"""
INNER = """\
name: inner
cases:
  - {id: a, inputs: {text: alpha}, checks: [{type: equals, value: alpha, required: true}]}
  - {id: b, inputs: {text: beta}, checks: [{type: equals, value: beta, required: true}]}
"""
CHILD = "name: child\nsteps:\n  - {name: out, type: test_echo, value: '{{inputs.text}}'}\n"
HALF = "name: child\nsteps:\n  - {name: out, type: test_echo, value: alpha}\n"
OUTER = f"""\
name: outer
cases:
  - id: good
    inputs: {{child: {json.dumps(CHILD)}}}
    checks: [{{type: numeric, path: output.passed, value: 2, required: true}}]
  - id: half
    inputs: {{child: {json.dumps(HALF)}}}
    checks: [{{type: numeric, path: output.passed, value: 1, required: true}}]
"""
CAMPAIGN = """\
name: nested
seeds: [meta.yaml]
suite: outer.yaml
providers:
  claude: {provider: mock}
evolution: {population: 2, offspring: 2, generations: 1}
"""


@pytest.fixture(scope="module")
def farm_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedFarm]:
    """One worker process with the sandbox evaluator (overrides the synthetic farm)."""
    env = {
        "EVOFARM_EVALUATOR": "sandbox",
        "EVOFARM_CASE_CONCURRENCY": "1",
        "EVOFARM_TASK_SOFT_TIME_LIMIT_S": "60",
        "EVOFARM_TASK_TIME_LIMIT_S": "70",
        "EVOFARM_VISIBILITY_TIMEOUT_S": "80",
    }
    state = tmp_path_factory.mktemp("nested-farm")
    env["EVOFARM_STATE_DIR"] = str(state)
    with started_farm(state, env, workers=1, concurrency=1) as farm:
        yield farm


def test_a_worker_scores_nested_pipelines_for_its_sandbox(
    farm: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("nested-campaign")
    directory.chmod(0o755)
    for name, text in {
        "meta.yaml": META,
        "outer.yaml": OUTER,
        "inner.yaml": INNER,
        "campaign.yaml": CAMPAIGN,
    }.items():
        (directory / name).write_text(text)
    spec = load_campaign(directory / "campaign.yaml")
    store = farm.store  # type: ignore[attr-defined]
    campaign = control.submit(store, spec, seed=1)
    bundle = CampaignCache().get(store, campaign)
    request = EvalRequest(campaign, bundle.seed_genomes[0], bundle.suite_id, bundle.fidelity, 1)
    task_id = str(uuid.uuid4())
    store.add_inflight(campaign, [task_id])
    farm.dispatcher().send_evaluate(request, task_id)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 90
    event = None
    while event is None and time.monotonic() < deadline:
        event = store.wait_event(campaign, EVENTS, 1.0)
    assert event is not None and event["type"] == EVALUATED
    stored = store.get_evaluation(campaign, request.key)
    assert stored is not None
    assert stored["outcome"] == "ok", stored["reason"]
    assert (stored["test_rate"], stored["gates"]) == (1.0, 1.0), [
        c["checks"] for c in stored["cases"]
    ]
