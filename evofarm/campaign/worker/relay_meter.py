"""Score a sandboxed evaluation's usage by what the worker measured, not by the traces.

Everything the sandboxed child returns is the candidate's word: a ``python``
step runs in the child's process and can rewrite its trace's usage, and it can
write frames on the child's pipe, so a ``case`` field on an LLM frame would be
its word too. Two figures are the worker's own: what :class:`LLMRelay` (and the
nested scorer) served for the whole sandbox, and the sandbox's wall time on the
worker's clock.

:func:`relay_meter` therefore splits those totals evenly over the batch's cases
(tokens to the token, the remainder going to the first cases in id order). A
per-case split by the candidate's attribution would be gameable: efficiency is
convex in a case's tokens, so piling every call onto one case (or onto a case
that fails anyway, efficiency 0) would raise the mean. With an even split, any
story the child tells about its usage scores exactly as the truth does.

The price: per-case tokens and latency in the records are the batch's mean, and
latency includes the sandbox's start-up (tens of milliseconds, shared by the
cases) and any wait of a case for a free thread of the ``concurrency`` pool.
"""

from __future__ import annotations

from collections.abc import Sequence

from evofarm.fitness.metered import CaseMeter, MeteredUsage
from evofarm.fitness.suite_models import Case
from evofarm.sandbox.wire.outcome import SandboxResult

#: The usage of a batch that never ran (its start raised): nothing was served.
NOTHING = MeteredUsage(input_tokens=0, output_tokens=0, cost_usd=0.0, latency_ms=0.0)


def relay_meter(sandbox: SandboxResult, case_ids: Sequence[str], concurrency: int) -> CaseMeter:
    """A meter giving each of ``case_ids`` an even share of ``sandbox``'s usage and time.

    The shares of tokens sum exactly to the relay's counts. Each case's latency is
    ``wall_ms * min(concurrency, cases) / cases`` (the batch's cases ran that many at once).

    Raises:
        ValueError: no case ids, or ``concurrency`` below 1.
    """
    n = len(case_ids)
    if n < 1 or concurrency < 1:
        raise ValueError("a batch needs at least one case and a concurrency of at least 1")
    rank = {case_id: i for i, case_id in enumerate(sorted(case_ids))}
    usage = sandbox.usage
    latency = sandbox.wall_ms * min(concurrency, n) / n

    def share(total: int, i: int) -> int:
        return total // n + (1 if i < total % n else 0)

    def meter(case: Case) -> MeteredUsage:
        i = rank[case.id]
        return MeteredUsage(
            input_tokens=share(usage.input_tokens, i),
            output_tokens=share(usage.output_tokens, i),
            cost_usd=usage.cost_usd / n,
            latency_ms=latency,
        )

    return meter
