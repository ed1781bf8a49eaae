"""RabbitMQ as the broker (``EVOFARM_BROKER_URL=amqp://...``), Redis as the store.

A private RabbitMQ node (own node name, ports, epmd and mnesia dir under tmp)
and a private Redis; real worker processes. Skipped where RabbitMQ is not
installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evofarm.campaign import control
from evofarm.campaign.reports.readback import best_genome_id
from evofarm.campaign.scheduler.driver import Scheduler
from evofarm.farm.embedded import EmbeddedFarm
from evofarm.farm.session import Farm, connect_farm
from evofarm.testing.rabbitmq import RabbitMQNode, find_rabbitmq_server
from tests.faults.conftest import assert_exact_counts, in_process_best
from tests.faults.test_redis_outage import FAST
from tests.integration.conftest import FARM_ENV, small_demo

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_rabbitmq_server() is None, reason="rabbitmq-server not installed"),
]


@pytest.fixture(scope="module")
def rabbit_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """RabbitMQ broker + private Redis store + 2 workers consuming from RabbitMQ."""
    with RabbitMQNode(tmp_path_factory.mktemp("rabbitmq")) as node:
        processes = EmbeddedFarm(
            Path(tmp_path_factory.mktemp("farm")),
            workers=2,
            concurrency=2,
            env=FARM_ENV,
            broker_url=node.url,
        )
        with processes:
            processes.wait_ready(timeout=90)
            store, app = connect_farm(processes.redis_url, node.url)
            farm = Farm(store, app, processes)
            try:
                yield farm
            finally:
                farm.close()


def test_a_campaign_on_rabbitmq_matches_in_process(rabbit_farm: Farm) -> None:
    assert rabbit_farm.app.conf.broker_url.startswith("amqp://")
    spec = small_demo(generations=4)
    best, status, reason = in_process_best(spec, seed=31)
    campaign = control.submit(rabbit_farm.store, spec, seed=31)
    outcome = Scheduler(rabbit_farm.store, rabbit_farm.dispatcher(), campaign, options=FAST).run()
    assert (outcome.status, outcome.reason) == (status, reason)
    top = best_genome_id(rabbit_farm.store, campaign)
    assert top is not None and top[0] == best
    assert_exact_counts(rabbit_farm, campaign)
