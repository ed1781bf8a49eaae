"""A real farm for the integration tests: private Redis and real worker processes.

Workers evaluate with the synthetic evaluator (deterministic scores, simulated
LLM latency; :mod:`evofarm.testing.synthetic_eval`) so the tests are about the
farm: queues, workers, redelivery, resumption. Time limits are short so a task
held by a SIGKILLed worker comes back within seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evofarm.campaign.spec import CampaignSpec, load_campaign
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.session import Farm, connect_farm

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"

FARM_ENV = {
    "EVOFARM_EVALUATOR": "evofarm.testing.synthetic_eval:factory",
    "EVOFARM_SYNTHETIC_LATENCY_S": "0.02",
    "EVOFARM_CASE_CONCURRENCY": "4",
    "EVOFARM_TASK_SOFT_TIME_LIMIT_S": "4",
    "EVOFARM_TASK_TIME_LIMIT_S": "5",
    "EVOFARM_VISIBILITY_TIMEOUT_S": "6",
    "EVOFARM_SCHEDULER_LEASE_TTL_S": "3",
}


@contextlib.contextmanager
def started_farm(
    directory: Path,
    env: dict[str, str],
    workers: int = 2,
    concurrency: int = 2,
    pool: str = "prefork",
) -> Iterator[EmbeddedFarm]:
    """Private Redis + ``workers`` worker processes (``concurrency`` children or threads
    each, as Celery ``pool`` says) with ``env``, in ``directory``; yielded once ready
    (90 s at most), stopped on exit.

    A module that needs other worker settings overrides ``farm_processes`` with this."""
    farm = EmbeddedFarm(directory, workers=workers, concurrency=concurrency, env=env, pool=pool)
    farm.start()
    try:
        farm.wait_ready(timeout=90)
        yield farm
    finally:
        farm.stop()


@contextlib.contextmanager
def connected(embedded: EmbeddedFarm) -> Iterator[Farm]:
    """A connection (store + Celery app) to ``embedded``, closed on exit."""
    store, app = connect_farm(embedded.redis_url, embedded.redis_url)
    connection = Farm(store, app, embedded)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(scope="module")
def farm_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedFarm]:
    """Private Redis + 2 worker processes (prefork, 2 children each), for a module."""
    with started_farm(tmp_path_factory.mktemp("farm"), FARM_ENV) as farm:
        yield farm


@pytest.fixture
def farm(farm_processes: EmbeddedFarm) -> Iterator[Farm]:
    """A connection (store + Celery app) to the module's farm."""
    with connected(farm_processes) as connection:
        yield connection


@pytest.fixture(scope="module")
def run_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file for a module's workers to log every case they run to
    (``synthetic_eval.RUN_LOG_ENV`` in the env its ``farm_processes`` gives them)."""
    return tmp_path_factory.mktemp("runs") / "case-runs.log"


@pytest.fixture(scope="session")
def farm_env() -> dict[str, str]:
    """The environment the farm's workers (and any scheduler process) get."""
    return dict(FARM_ENV)


@pytest.fixture(scope="session")
def demo() -> Callable[..., CampaignSpec]:
    """``demo(generations, **budgets)``: the demo campaign, shrunk (see small_demo)."""
    return small_demo


def small_demo(generations: int = 4, **budgets: float) -> CampaignSpec:
    """The demo campaign, shrunk, with only the given budgets."""
    spec = load_campaign(DEMO)
    evolution = spec.evolution.model_copy(
        update={"generations": generations, "population": 6, "offspring": 6,
                "target_fitness": None}
    )  # fmt: skip
    limits = spec.budgets.model_copy(
        update={"max_evaluations": None, "max_wall_s": None, **budgets}
    )
    return spec.model_copy(update={"evolution": evolution, "budgets": limits})


def steady(spec: CampaignSpec) -> CampaignSpec:
    """``spec`` in steady state (``evolution.mode: steady``)."""
    return spec.model_copy(
        update={"evolution": spec.evolution.model_copy(update={"mode": "steady"})}
    )
