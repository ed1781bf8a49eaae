"""Fleet-wide rate limiting and budgets against a provider that enforces a limit.

Worker processes (2, then 4), each with 8 concurrent cases (threads), call a
:class:`~evofarm.testing.fake_anthropic.FakeAnthropicServer` that enforces
``--limit`` requests per second (a 429 with ``retry-after`` beyond it). Every
call goes through the stack a farm worker builds: ``MeteredProvider`` (the
campaign's Redis ledger) around ``RateLimitedProvider`` around the real
Anthropic SDK provider. Two limiters are compared side by side:

* ``fleet``: one :class:`~evofarm.fleet.ratelimit.RedisRateLimiter` bucket for
  every process (and the fleet-wide pause after a 429);
* ``per_process``: a :class:`~evofarm.providers.ratelimit.TokenBucketLimiter`
  per process at the full limit, which is what per-process tools do.

The limit configured is the server's own (``--headroom 1``), as a user copies
their account's limits; the fleet limiter paces 10 % below it (its margin for
calls that reach the server late after their turn).

A third row per worker count, ``fleet_after_429``, starts with the account
already throttled (the server's first answer is a 429 with ``retry-after:
0.5``, as when another client used the window): the fleet pauses, and the calls
that asked during the pause must leave it spaced, not in one clump (a clump is
the next 429, whose pause ends in the next clump: a storm).

Figures (one JSON object): ``share_429`` = 429s / requests the server received
(target <= 0.02 for the fleet); ``rate_share`` = billed requests per second /
limit (target >= 0.8); in a second, budgeted phase, ``budget_overshoot_usd`` =
billed - budget (target 0); ``tokens_counted`` vs ``tokens_billed`` (equal).

Usage: ``python benchmarks/fleet_ratelimit.py [--limit 10] [--seconds 4]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from evofarm.errors import BudgetExceeded, ProviderError
from evofarm.farm.redis_server import RedisServer
from evofarm.fleet.ledger import RedisLedger
from evofarm.fleet.ratelimit import RedisRateLimiter
from evofarm.providers.anthropic import AnthropicProvider
from evofarm.providers.base import LLMRequest
from evofarm.providers.metered import MeteredProvider
from evofarm.providers.pricing import DEFAULT_PRICES
from evofarm.providers.rate_limits import parse_rate_limits
from evofarm.providers.ratelimit import RateLimitedProvider, RateLimiter, TokenBucketLimiter
from evofarm.providers.retry import BackoffPolicy
from evofarm.testing.fake_anthropic import FakeAnthropicServer, FakeReply

MODEL = "claude-haiku-4-5"
CASES_PER_WORKER = 8


def _worker(args: dict[str, Any]) -> dict[str, int]:
    """One worker process: ``CASES_PER_WORKER`` threads calling until the deadline."""
    client = redis.Redis.from_url(args["redis"], decode_responses=True)
    configured = args["limit"] * args["headroom"]
    limits = parse_rate_limits({"anthropic": {"requests_per_minute": configured * 60}})
    limiter: RateLimiter
    if args["mode"] == "fleet":
        limiter = RedisRateLimiter(client, "anthropic", limits, max_wait_s=30)
    else:
        limiter = TokenBucketLimiter(configured, burst_requests=1.0, max_wait_s=30)
    anthropic = AnthropicProvider(
        "test-key",
        base_url=args["base_url"],
        timeout_s=10,
        backoff=BackoffPolicy(base_s=0.1, cap_s=2.0, max_retries=8, retry_after_cap_s=5.0),
    )
    provider = MeteredProvider(
        RateLimitedProvider(anthropic, limiter),
        RedisLedger(client, args["campaign"]),
        prices=DEFAULT_PRICES,
        budgeted=True,
    )
    deadline = time.monotonic() + args["seconds"]
    counts = {"ok": 0, "refused": 0, "failed": 0}
    lock = threading.Lock()

    def case(n: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            request = LLMRequest.from_prompt(
                MODEL, f"case {n} call {i}: " + "x" * 40, max_tokens=64
            )
            try:
                provider.complete(request)
                outcome = "ok"
            except BudgetExceeded:
                outcome = "refused"
            except ProviderError:
                outcome = "failed"
            with lock:
                counts[outcome] += 1
            if outcome == "refused":
                return

    threads = [threading.Thread(target=case, args=(n,)) for n in range(CASES_PER_WORKER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def run(
    server: FakeAnthropicServer,
    redis_url: str,
    *,
    workers: int,
    mode: str,
    limit: float,
    seconds: float,
    budget_usd: float | None,
    headroom: float,
    throttled: bool = False,
) -> dict[str, Any]:
    server.reset()
    if throttled:
        server.push(FakeReply.rate_limited(retry_after=0.5))
    campaign = f"bench-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    if budget_usd is not None:
        client.hset(keys_budgets(campaign), "cost_micro_usd", round(budget_usd * 1_000_000))
    args = {
        "redis": redis_url,
        "base_url": server.base_url,
        "mode": mode,
        "limit": limit,
        "seconds": seconds,
        "campaign": campaign,
        "headroom": headroom,
    }
    # fork: a spawned interpreter takes seconds to import the SDK on a busy machine.
    ctx = multiprocessing.get_context("fork")
    started = time.monotonic()
    with ctx.Pool(workers) as pool:
        results = pool.map(_worker, [args] * workers)
    elapsed = time.monotonic() - started
    recorded = server.message_requests
    received = len(recorded)
    bill = server.billed
    stamps = [r.received_at for r in recorded]
    span = max(stamps) - min(stamps) if len(stamps) > 1 else seconds
    totals = RedisLedger(client, campaign).totals()
    figures: dict[str, Any] = {
        "workers": workers,
        "cases_per_worker": CASES_PER_WORKER,
        "limiter": mode + ("_after_429" if throttled else ""),
        "requests": received,
        "share_429": round((server.rejected + throttled) / received, 4) if received else 0.0,
        "configured_rps": round(limit * headroom, 2),
        # billed requests per second over the span the server saw requests, / limit
        "rate_share": round(bill.requests / span / limit, 3),
        "failed_calls": sum(r["failed"] for r in results),
        "tokens_counted": totals.total.tokens,
        "tokens_billed": bill.tokens,
        "elapsed_s": round(elapsed, 2),
    }
    if budget_usd is not None:
        billed_usd = bill.cost_usd(1.0, 5.0)
        figures |= {
            "budget_usd": budget_usd,
            "billed_usd": round(billed_usd, 6),
            "budget_overshoot_usd": round(max(0.0, billed_usd - budget_usd), 6),
            "refused_calls": sum(r["refused"] for r in results),
        }
    return figures


def keys_budgets(campaign: str) -> str:
    from evofarm import keys  # noqa: PLC0415

    return keys.budget_limits(campaign)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=float, default=10.0, help="server requests/s")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--budget-usd", type=float, default=0.002)
    parser.add_argument(
        "--headroom",
        type=float,
        default=1.0,
        help="configured limit as a share of the server's (1: the account's own limit; the "
        "fleet limiter keeps EVOFARM_RATE_LIMIT_MARGIN below it)",
    )
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server_dir = Path(tmp) / "redis"
        server_dir.mkdir()
        rs = RedisServer(server_dir, persist=False)
        rs.start()
        try:
            with FakeAnthropicServer(requests_per_s=opts.limit, latency_s=0.05) as server:
                rows = [
                    run(server, rs.url, workers=w, mode=m, limit=opts.limit,
                        seconds=opts.seconds, budget_usd=None, headroom=opts.headroom)
                    for w in (2, 4) for m in ("fleet", "per_process")
                ] + [
                    run(server, rs.url, workers=w, mode="fleet", limit=opts.limit,
                        seconds=opts.seconds, budget_usd=None, headroom=opts.headroom,
                        throttled=True)
                    for w in (2, 4)
                ]  # fmt: skip
                budget = [
                    run(server, rs.url, workers=w, mode="fleet", limit=opts.limit,
                        seconds=opts.seconds, budget_usd=opts.budget_usd, headroom=opts.headroom)
                    for w in (2, 4)
                ]  # fmt: skip
        finally:
            rs.stop()
    print(json.dumps({"limit_rps": opts.limit, "rate": rows, "budget": budget}))


if __name__ == "__main__":
    main()
