"""``/metrics``: the farm's figures in Prometheus text, read from the store at scrape time.

Families (all labelled by ``campaign`` unless said):

* ``evofarm_evaluations_total{outcome}``: stored evaluations by outcome;
* ``evofarm_evaluation_latency_seconds``: histogram of evaluation wall time;
* ``evofarm_tokens_total{role}`` and ``evofarm_cost_usd_total{role}``: counted
  usage; role ``candidate`` is the evaluations' usage (``tokens`` /
  ``cost_micro_usd`` counters); a counter named ``tokens:ROLE`` or
  ``cost_micro_usd:ROLE`` (e.g. a proposer's) is reported under that role;
* ``evofarm_generation`` and ``evofarm_best_fitness``;
* ``evofarm_queue_depth{queue}`` and ``evofarm_workers_online`` (no campaign label
  on a shared farm; an embedded campaign's own farm is labelled by campaign).

Nothing is cached: a scrape reads the store, so keep scrape intervals at
seconds, not milliseconds, on large campaigns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from evofarm.campaign.budgets import MICRO
from evofarm.campaign.lifecycle import ACTIVE
from evofarm.campaign.reports.readback import snapshot
from evofarm.dashboard.source import CampaignSource, Fleet
from evofarm.errors import FarmError
from evofarm.store.base import COUNTER_COST, COUNTER_TOKENS

#: Latency buckets in seconds (evaluations take from milliseconds to minutes).
BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _histogram(seconds: list[float]) -> tuple[list[tuple[str, float]], float]:
    buckets = [(str(b), float(sum(1 for s in seconds if s <= b))) for b in BUCKETS]
    buckets.append(("+Inf", float(len(seconds))))
    return buckets, sum(seconds)


def _roles(counters: dict[str, int]) -> dict[str, tuple[int, float]]:
    roles = {"candidate": (counters.get(COUNTER_TOKENS, 0), counters.get(COUNTER_COST, 0) / MICRO)}
    for name, value in counters.items():
        base, _, role = name.partition(":")
        if not role:
            continue
        tokens, usd = roles.get(role, (0, 0.0))
        if base == COUNTER_TOKENS:
            roles[role] = (value, usd)
        elif base == COUNTER_COST:
            roles[role] = (tokens, value / MICRO)
    return roles


class FarmCollector(Collector):
    """Collects every campaign of a source on each scrape."""

    def __init__(self, source: CampaignSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        evaluations = CounterMetricFamily(
            "evofarm_evaluations", "Stored evaluations by outcome", labels=["campaign", "outcome"]
        )
        latency = HistogramMetricFamily(
            "evofarm_evaluation_latency_seconds",
            "Evaluation wall time",
            labels=["campaign"],
        )
        tokens = CounterMetricFamily(
            "evofarm_tokens", "Counted tokens by role", labels=["campaign", "role"]
        )
        usd = CounterMetricFamily(
            "evofarm_cost_usd", "Counted cost in USD by role", labels=["campaign", "role"]
        )
        generation = GaugeMetricFamily(
            "evofarm_generation", "Last checkpointed generation", labels=["campaign"]
        )
        best = GaugeMetricFamily("evofarm_best_fitness", "Best fitness", labels=["campaign"])
        depth = GaugeMetricFamily(
            "evofarm_queue_depth", "Messages waiting per queue", labels=["campaign", "queue"]
        )
        workers = GaugeMetricFamily(
            "evofarm_workers_online", "Workers answering a ping", labels=["campaign"]
        )
        for campaign in self.source.campaign_ids():
            try:
                store = self.source.store(campaign)
                snap = snapshot(store, campaign)
                keys = sorted(store.evaluation_keys(campaign), key=lambda k: k.member())
                docs = [d for d in store.get_evaluations(campaign, keys) if d is not None]
                counters = store.counters(campaign)
            except FarmError:
                continue  # a campaign whose store went away between listing and reading
            for outcome, count in sorted(Counter(str(d.get("outcome")) for d in docs).items()):
                evaluations.add_metric([campaign, outcome], count)
            buckets, total = _histogram([float(d.get("time_ms", 0.0)) / 1000 for d in docs])
            latency.add_metric([campaign], buckets, total)
            for role, (n, cost) in sorted(_roles(counters).items()):
                tokens.add_metric([campaign, role], n)
                usd.add_metric([campaign, role], cost)
            generation.add_metric([campaign], snap.generation)
            if snap.best_fitness is not None:
                best.add_metric([campaign], snap.best_fitness)
            if snap.status in ACTIVE:
                _fleet(depth, workers, campaign, self.source.fleet(campaign))
        _fleet(depth, workers, "", self.source.fleet(None))
        yield from (evaluations, latency, tokens, usd, generation, best, depth, workers)


def _fleet(depth: GaugeMetricFamily, workers: GaugeMetricFamily, label: str, fleet: Fleet) -> None:
    for queue, count in sorted(fleet.queues.items()):
        depth.add_metric([label, queue], count)
    if fleet.workers_online is not None:
        workers.add_metric([label], fleet.workers_online)


def render(source: CampaignSource) -> bytes:
    """The Prometheus text exposition of ``source``'s campaigns."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FarmCollector(source))
    return generate_latest(registry)
