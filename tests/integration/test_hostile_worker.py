"""Hostile candidates through a real farm worker (issue 5).

One Celery worker (prefork, two pool processes, the ``sandbox`` evaluator, as
``evofarm worker`` runs it) on a private Redis holds secrets in its
environment and a settings file. Each hostile candidate (:data:`CASES`) is
submitted as ``evofarm.evaluate`` twice with one task id, as a late-acknowledged
redelivery would be (the two pool processes usually run both at once), then
a good candidate is. For each case:

* the evaluation is stored once with the right failure outcome and a reason,
  scores 0 and is in the failure museum; every completion event carries the
  stored evaluation;
* the secrets appear in no value of the Redis database and not in the worker's log;
* nothing is left running: the worker's tree is back to its pool processes and
  their zygotes, and nothing escaped to this (subreaper) process;
* the same pool processes and zygotes evaluate the good candidate correctly,
  and the campaign counts exactly two evaluations and one failure.
"""

from __future__ import annotations

import ast
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from evofarm.campaign import control
from evofarm.campaign.bundle import CampaignCache
from evofarm.campaign.lifecycle import EVENTS
from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.campaign.worker.work import EVALUATED, EvalRequest
from evofarm.evolution.genome import Genome
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.session import Farm
from evofarm.keys import campaign_prefix
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.sandbox.child.zygote import shutdown_zygote
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.runner import run_sandboxed
from evofarm.sandbox.wire.job import PythonJob
from evofarm.testing.loopback import loopback_listener
from tests.integration.conftest import started_farm

from .hostile_farm import (
    CASES,
    OUROBOROS,
    REDIS_PASSWORD,
    SECRET,
    SECRET_ENV,
    TIGHT,
    HostileCase,
    Target,
    WorkerTree,
    child_subreaper,
    escaped_children,
    process_table,
    redis_text,
    settled_tree,
    worker_tree,
)

pytestmark = [pytest.mark.integration, pytest.mark.security]

WORKER_ENV = {
    **SECRET_ENV,
    "EVOFARM_EVALUATOR": "sandbox",
    "EVOFARM_CASE_CONCURRENCY": "1",
    # Far above every sandbox wall timeout: the sandbox, not Celery, must stop
    # a candidate (a Celery hard limit would kill and replace a pool process).
    "EVOFARM_TASK_SOFT_TIME_LIMIT_S": "60",
    "EVOFARM_TASK_TIME_LIMIT_S": "70",
    "EVOFARM_VISIBILITY_TIMEOUT_S": "80",
}

GOOD = """\
workflow:
  name: shout
  inputs: {text: ""}
  steps:
    - name: shout
      type: python
      input: "{{inputs.text}}"
      code: |
        def run(value):
            return value.upper()
"""

SUITE = """\
name: shout
cases:
  - id: 01-hello
    inputs: {text: "hello farm"}
    checks:
      - {type: equals, label: shouted, value: "HELLO FARM", required: true}
"""

CAMPAIGN = """\
name: hostile
seeds: [good.yaml]
suite: suite.yaml
providers:
  claude: {provider: mock}
evolution: {population: 2, offspring: 2, generations: 1}
"""

EVENT_WAIT_S = 60.0


@pytest.fixture(scope="module")
def full_isolation() -> bool:
    """Whether sandboxes on this machine get every namespace (as the worker's will)."""
    try:
        probe = run_sandboxed(PythonJob(code="def run(v):\n    return 1\n"))
        return probe.isolation.mode == "full"
    finally:
        shutdown_zygote()  # this process's own zygote: not part of the farm


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The campaign's files; readable by the sandbox's unprivileged user."""
    directory = tmp_path_factory.mktemp("hostile-campaign")
    directory.chmod(0o755)
    for name, text in {
        "good.yaml": GOOD,
        "suite.yaml": SUITE,
        "campaign.yaml": CAMPAIGN,
        "ouroboros.yaml": OUROBOROS,
    }.items():
        (directory / name).write_text(text)
        (directory / name).chmod(0o644)
    return directory


@pytest.fixture(scope="module")
def farm_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedFarm]:
    """One worker (prefork, 2 pool processes, sandbox evaluator) holding secrets.

    Overrides the integration conftest's farm (synthetic evaluator). While it
    runs, this process is a child subreaper, so anything escaping the worker's
    tree is re-parented here (see :func:`escaped_children`).
    """
    state = tmp_path_factory.mktemp("hostile-farm")
    settings = state / "settings.env"
    settings.write_text("".join(f"{k}={v}\n" for k, v in SECRET_ENV.items()))
    settings.chmod(0o600)
    env = {**WORKER_ENV, "EVOFARM_STATE_DIR": str(state)}
    with child_subreaper(), started_farm(state, env, workers=1, concurrency=2) as farm:
        yield farm


@pytest.fixture(scope="module")
def baseline(farm_processes: EmbeddedFarm, full_isolation: bool) -> set[int]:
    """This process's children once the farm is up (nothing else may appear)."""
    me = os.getpid()
    return {pid for pid, (ppid, _, _) in process_table().items() if ppid == me}


def _spec(campaign_dir: Path, case: HostileCase) -> CampaignSpec:
    spec = load_campaign(campaign_dir / "campaign.yaml")
    return spec.model_copy(update={"sandbox": SandboxLimits(**{**TIGHT, **case.limits})})


def _wait_evaluated(farm: Farm, campaign: str, count: int) -> list[dict[str, Any]]:
    """The next ``count`` evaluated events of ``campaign``."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + EVENT_WAIT_S
    while len(events) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(events)} of {count} evaluations signalled"
        # Short blocks: redis-py gives unix-socket connections a 5 s read timeout.
        event = farm.store.wait_event(campaign, EVENTS, min(left, 1.0))
        if event is not None:
            assert event.get("type") == EVALUATED, event
            events.append(event)
    return events


def _evaluate(farm: Farm, request: EvalRequest, deliveries: int) -> list[dict[str, Any]]:
    """Send the evaluate task ``deliveries`` times under one id; its completion events."""
    task_id = str(uuid.uuid4())
    farm.store.add_inflight(request.campaign, [task_id])
    dispatcher = farm.dispatcher()
    for _ in range(deliveries):
        dispatcher.send_evaluate(request, task_id)
    return _wait_evaluated(farm, request.campaign, deliveries)


def _wait_no_inflight(farm: Farm, campaign: str, timeout: float = 5.0) -> None:
    """Every task finished through the task wrapper (it clears the id after signalling)."""
    deadline = time.monotonic() + timeout
    while (left := farm.store.inflight(campaign)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left, f"tasks never finished: {left}"


def _assert_no_secret(farm_processes: EmbeddedFarm, campaign: str) -> None:
    client = redis.Redis.from_url(farm_processes.redis_url)
    try:
        dump = redis_text(client)
    finally:
        client.close()
    assert any(key.startswith(campaign_prefix(campaign) + ":") for key in dump)
    logs = sorted(farm_processes.farm_dir.glob("worker-*.log"))
    assert logs, "the worker wrote no log file"
    texts = {**dump, **{str(p): p.read_text(errors="replace") for p in logs}}
    for secret in (SECRET, REDIS_PASSWORD):
        leaks = [where for where, text in texts.items() if secret in text]
        assert not leaks, f"secret found in {leaks}"


def _assert_case_specifics(case: HostileCase, target: Target, reason: str, full: bool) -> None:
    if case.name == "shell_checks_who_it_runs_as":
        ids = reason.split("whoami:", 1)[1].split(":end", 1)[0].split(",")
        assert ids and all(i.isdigit() for i in ids), reason
        assert "0" not in ids, f"the candidate's shell runs as root: {ids}"
    if case.name == "writing_outside_the_workdir":
        assert not any(p.exists() for p in target.planted)
    if case.name == "peeking_at_its_suite":
        suite, folder, home, net, state = ast.literal_eval(
            reason.split("seen:", 1)[1].split(":end", 1)[0]
        )
        assert suite == net == state == "FileNotFoundError", reason
        assert folder == ["good.yaml"], reason  # only the campaign's own pipeline file
        # $HOME exists only as the way to a runtime that lives below it (pyenv under /root).
        runtime = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix)]
        home_dir = Path.home()
        ways = {r.relative_to(home_dir).parts[0] for r in runtime if r.is_relative_to(home_dir)}
        assert home == "FileNotFoundError" or set(home) == ways, reason
    if case.name == "pipeline_recursing_into_itself" and not full:
        return
    assert case.reason in reason, reason


def _check_worker_at_rest(main_pid: int, before: WorkerTree, known: set[int]) -> None:
    after = settled_tree(main_pid)
    assert not after.others, f"left running in the worker's tree: {sorted(after.others)}"
    assert after.pool == before.pool, "a pool process was replaced"
    assert before.zygotes <= after.zygotes, "a sandbox zygote was replaced"
    assert len(after.zygotes) <= len(after.pool)
    assert not escaped_children(known), "processes escaped the worker's tree"


def test_the_worker_holds_the_secrets(farm_processes: EmbeddedFarm) -> None:
    # Makes the leak checks meaningful: a candidate that got out would find them.
    main = farm_processes.processes[0].pid
    for pid in {main, *worker_tree(main).pool}:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert SECRET.encode() in environ and REDIS_PASSWORD.encode() in environ


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_hostile_candidate_is_contained_by_the_worker(
    case: HostileCase,
    farm: Farm,
    farm_processes: EmbeddedFarm,
    campaign_dir: Path,
    baseline: set[int],
    full_isolation: bool,
) -> None:
    if not full_isolation and not case.degraded:
        pytest.skip("needs full isolation (a documented gap of the degraded mode)")
    main_pid = farm_processes.processes[0].pid
    before = settled_tree(main_pid)
    campaign = control.submit(farm.store, _spec(campaign_dir, case), seed=1)
    bundle = CampaignCache().get(farm.store, campaign)
    good_id = bundle.seed_genomes[0]
    planted = tuple(Path(d) / f"evofarm-planted-{uuid.uuid4().hex}" for d in ("/var/tmp", "/etc"))
    try:
        with loopback_listener() as (port, accepted):
            target = Target(
                worker_pid=main_pid,
                settings_file=farm_processes.state_dir / "settings.env",
                redis_socket=farm_processes.redis.socket_path,
                listener_port=port,
                planted=planted,
                campaign_dir=campaign_dir,
            )
            hostile = Genome.from_pipeline(load_pipeline_text(case.pipeline(target)))
            farm.store.put_genome(campaign, hostile.model_dump(mode="json"))
            request = EvalRequest(campaign, hostile.id, bundle.suite_id, bundle.fidelity, 1)
            events = _evaluate(farm, request, deliveries=2)
            assert accepted == []

        stored = farm.store.get_evaluation(campaign, request.key)
        assert stored is not None
        expected = {case.outcome} if full_isolation else case.degraded
        assert stored["outcome"] in expected, stored["reason"]
        assert stored["score"] == 0.0
        reason = stored["reason"]
        assert reason
        _assert_case_specifics(case, target, reason, full_isolation)
        # Both deliveries signal the one stored evaluation (what the scheduler keeps).
        assert [e["evaluation"] for e in events] == [stored, stored]
        museum = farm.store.museum(campaign)
        assert [(m["genome"], m["outcome"], m["reason"]) for m in museum] == [
            (hostile.id, stored["outcome"], reason)
        ]
        _check_worker_at_rest(main_pid, before, baseline)

        good = EvalRequest(campaign, good_id, bundle.suite_id, bundle.fidelity, 1)
        (event,) = _evaluate(farm, good, deliveries=1)
        done = farm.store.get_evaluation(campaign, good.key)
        assert done is not None and event["evaluation"] == done
        assert (done["outcome"], done["test_rate"], done["gates"]) == ("ok", 1.0, 1.0)
        assert done["cases"][0]["output_excerpt"] == "HELLO FARM"
        counters = farm.store.counters(campaign)
        assert (counters.get("evaluations"), counters.get("failures")) == (2, 1)
        # The redelivery either raced the first run (and was not counted) or found it done.
        assert counters.get("duplicates", 0) <= 1
        assert len(farm.store.evaluation_keys(campaign)) == 2
        _wait_no_inflight(farm, campaign)
        _check_worker_at_rest(main_pid, before, baseline)
        _assert_no_secret(farm_processes, campaign)
    finally:
        for path in planted:
            path.unlink(missing_ok=True)
