"""A synthetic evaluator: deterministic scores, simulated LLM latency, no pipeline run.

Used by the farm's tests and its throughput benchmark, where what matters is
the scheduling (queues, workers, retries, resumption), not what the candidate
computes. Each case "calls an LLM" that only waits ``latency_s``; cases of one
genome wait concurrently on up to ``max_workers`` threads, as the farm's real
evaluator does. Scores come from the SHA-256 of (genome id, case id), so every
process computes the same evaluation for the same genome.

The farm's workers use it with ``EVOFARM_EVALUATOR=evofarm.testing.synthetic_eval:factory``
(latency from ``EVOFARM_SYNTHETIC_LATENCY_S``, its distribution from
``EVOFARM_SYNTHETIC_LATENCY_DIST``: :func:`case_latency`); the in-process loop with
:func:`loop_evaluator`.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import Counter
from concurrent.futures import Executor
from pathlib import Path
from statistics import NormalDist

from evofarm.campaign.bundle import Campaign
from evofarm.campaign.local.evaluator import Evaluator, StagedEvaluator
from evofarm.campaign.spec import CampaignSpec
from evofarm.campaign.worker.shards import splittable
from evofarm.campaign.worker.work import GenomeEvaluator
from evofarm.evolution.genome import Genome
from evofarm.fitness.parallel import map_in_order
from evofarm.fitness.records import CaseResult, Evaluation, aggregate
from evofarm.fitness.runner import select_cases
from evofarm.fitness.suite import TaskSuite

LATENCY_ENV = "EVOFARM_SYNTHETIC_LATENCY_S"
LATENCY_DIST_ENV = "EVOFARM_SYNTHETIC_LATENCY_DIST"
"""``uniform`` (every call waits the configured latency) or ``lognormal``."""
RUN_LOG_ENV = "EVOFARM_SYNTHETIC_RUN_LOG"
"""A file every evaluation appends one ``campaign genome case`` line per case it ran to,
so tests count case runs where they happen (the worker), not where they are reported."""
#: Lognormal spread giving p99/p50 = 10: sigma = ln(10) / z(0.99).
LOGNORMAL_SIGMA = math.log(10) / NormalDist().inv_cdf(0.99)
#: Quantiles a lognormal draw is clipped to (at most ~26x the median).
_CLIP = 0.0005
#: Checks per synthetic case (so scores take a few distinct values per case).
CHECKS = 4


def case_latency(genome_id: str, case_id: str, median_s: float, dist: str = "uniform") -> float:
    """The simulated latency of one case: fixed, or a lognormal draw keyed by genome and case.

    ``lognormal`` has median ``median_s`` and p99/p50 = 10; the draw is a pure
    function of (genome, case), so a rerun waits exactly as long.
    """
    if dist != "lognormal" or median_s <= 0:
        return median_s
    digest = hashlib.sha256(f"latency|{genome_id}|{case_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    z = NormalDist().inv_cdf(min(1 - _CLIP, max(_CLIP, u)))
    return median_s * math.exp(LOGNORMAL_SIGMA * z)


def configured_distribution() -> str:
    """The latency distribution from the environment (``uniform`` by default)."""
    return os.environ.get(LATENCY_DIST_ENV, "uniform") or "uniform"


def _case(genome_id: str, case_id: str, latency_s: float) -> CaseResult:
    latency_s = case_latency(genome_id, case_id, latency_s, configured_distribution())
    if latency_s > 0:
        time.sleep(latency_s)  # the simulated LLM call
    digest = int(hashlib.sha256(f"{genome_id}|{case_id}".encode()).hexdigest()[:8], 16)
    passed = digest % (CHECKS + 1)
    return CaseResult(
        case_id=case_id,
        passed_checks=passed,
        total_checks=CHECKS,
        required_passed=1 if passed == CHECKS else 0,
        required_total=1,
        tokens=10 + digest % 50,
        latency_ms=latency_s * 1000,
        efficiency=(digest % 1000) / 1000,
    )


def evaluate(
    genome: Genome,
    spec: CampaignSpec,
    suite: TaskSuite,
    *,
    latency_s: float = 0.0,
    max_workers: int = 1,
    pool: Executor | None = None,
) -> Evaluation:
    """The synthetic evaluation of ``genome`` (deterministic; waits ``latency_s`` per case).

    Its cases wait on ``max_workers`` threads of their own, or on ``pool`` (a
    worker's shared case pool), as the farm's real evaluators do.
    """
    cases = select_cases(suite, spec.fidelity)
    results = map_in_order(
        lambda c: _case(genome.id, c.id, latency_s), cases, max_workers=max_workers, pool=pool
    )
    return aggregate(
        results,
        suite_id=suite.id,
        budgets=suite.budgets,
        config=spec.fitness,
        fidelity=spec.fidelity,
        genome_id=genome.id,
    )


def configured_latency() -> float:
    """The simulated latency per case from the environment (seconds, default 0)."""
    return float(os.environ.get(LATENCY_ENV, "0") or 0)


def factory(max_workers: int, case_pool: Executor | None = None) -> GenomeEvaluator:
    """The farm-side evaluator (``EVOFARM_EVALUATOR=...synthetic_eval:factory``).

    ``case_pool``: the worker's shared case pool, if it has one (cases then wait
    on its threads; :func:`~evofarm.campaign.worker.work.resolve_evaluator`).
    """
    latency = configured_latency()
    run_log = os.environ.get(RUN_LOG_ENV) or None

    def run(campaign: Campaign, genome: Genome) -> Evaluation:
        evaluation = evaluate(
            genome,
            campaign.spec,
            campaign.suite,
            latency_s=latency,
            max_workers=max_workers,
            pool=case_pool,
        )
        if run_log is not None:
            _log_runs(run_log, campaign.id, genome.id, [c.case_id for c in evaluation.cases])
        return evaluation

    return splittable(run)  # each case is scored on its own


def _log_runs(path: str, campaign: str, genome_id: str, case_ids: list[str]) -> None:
    """Append one line per case run, in one ``O_APPEND`` write (processes share the file)."""
    text = "".join(f"{campaign} {genome_id} {case_id}\n" for case_id in case_ids)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def logged_case_runs(path: Path, campaign: str) -> Counter[tuple[str, str]]:
    """How many times each (genome, case) of ``campaign`` was run, as logged to ``path``
    (:data:`RUN_LOG_ENV`); empty when nothing was logged yet."""
    runs: Counter[tuple[str, str]] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            cid, genome, case = line.rsplit(" ", 2)
            if cid == campaign:
                runs[genome, case] += 1
    return runs


def loop_staged_evaluator(
    spec: CampaignSpec, suite: TaskSuite, latency_s: float = 0.0
) -> StagedEvaluator:
    """The synthetic nursery evaluator for the in-process loop: cases ``earlier`` ran are reused."""

    def staged(genome: Genome, fidelity: float, earlier: Evaluation | None) -> Evaluation:
        done = {c.case_id: c for c in earlier.cases} if earlier is not None else {}
        cases = select_cases(suite, fidelity)
        results = [done.get(c.id) or _case(genome.id, c.id, latency_s) for c in cases]
        return aggregate(
            results,
            suite_id=suite.id,
            budgets=suite.budgets,
            config=spec.fitness,
            fidelity=fidelity,
            genome_id=genome.id,
        )

    return staged


def loop_evaluator(spec: CampaignSpec, suite: TaskSuite, latency_s: float = 0.0) -> Evaluator:
    """The same evaluation for :func:`evofarm.campaign.local.loop.run_in_process`."""
    return lambda genome: evaluate(genome, spec, suite, latency_s=latency_s)
