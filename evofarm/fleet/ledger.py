"""The fleet-wide budget ledger of one campaign, in the campaign's Redis keys.

:class:`RedisLedger` implements :class:`evofarm.providers.ledger.BudgetLedger`
with two Lua scripts (:data:`~evofarm.fleet.scripts.RESERVE`,
:data:`~evofarm.fleet.scripts.SETTLE_CALL`), so every worker of every machine
books against one total and no interleaving can overspend. It counts into the
campaign's store counters (``tokens``, ``cost_micro_usd`` and per role
``llm:<role>:<field>``) and checks the store's budget limits
(:func:`evofarm.campaign.budgets.counter_limits` sets them on submit); a refused
reservation flags the store's ``crossed_budget`` the way a counted evaluation
does, so the scheduler stops the campaign with the budget named. The
summary, the budgets and the dashboard therefore read one set of figures.

Reservations of a worker that died mid-call stay booked (the provider may
have billed the call): :meth:`RedisLedger.reap` charges those older than a
bound at their worst case, so a budget stays safe and no call is lost.

Thread- and process-safe.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from evofarm import keys
from evofarm.errors import StoreError
from evofarm.fleet import scripts
from evofarm.providers.ledger import (
    COST,
    ROLES,
    SPEC_NAMES,
    TOKENS,
    Charge,
    LedgerTotals,
    refusal,
    totals_from_counters,
)

__all__ = ["RedisLedger", "totals_from_counters"]


class RedisLedger:
    """A campaign's :class:`~evofarm.providers.ledger.BudgetLedger` on Redis.

    Args:
        client: A redis-py client (``decode_responses=True``).
        campaign: The campaign id.
    """

    def __init__(self, client: redis.Redis, campaign: str) -> None:
        self.campaign = campaign
        self._r = client
        self._reserve = client.register_script(scripts.RESERVE)
        self._settle = client.register_script(scripts.SETTLE_CALL)
        self._keys = {
            "counters": keys.counters(campaign),
            "limits": keys.budget_limits(campaign),
            "held": keys.ledger_held(campaign),
            "reserved": keys.ledger_reserved(campaign),
            "meta": keys.campaign_meta(campaign),
            "settled": keys.ledger_settled(campaign),
        }

    def _run(self, what: str, fn: Any) -> Any:
        try:
            return fn()
        except redis.RedisError as exc:
            raise StoreError(f"redis: ledger of {self.campaign!r}: {what} failed: {exc}") from exc

    def reserve(
        self, call_id: str, *, tokens: int, micro_usd: int, role: str = "evaluation"
    ) -> None:
        """See :meth:`BudgetLedger.reserve`. Raises BudgetExceeded or StoreError."""
        k = self._keys
        out = self._run(
            "reserve",
            lambda: self._reserve(
                keys=[
                    k["counters"],
                    k["limits"],
                    k["held"],
                    k["reserved"],
                    k["meta"],
                    k["settled"],
                ],
                args=[call_id, int(tokens), int(micro_usd), role],
            ),
        )
        if int(out[0]) == 1:
            return
        budget, used, held, limit = str(out[1]), int(out[2]), int(out[3]), int(out[4])
        raise refusal(budget, used, held, int(micro_usd if budget == COST else tokens), limit)

    def _apply(self, call_id: str, count: bool, charge: Charge | None) -> bool:
        k = self._keys
        c = charge or Charge(call_id=call_id, role="evaluation", provider="", model="")
        args: list[str | int] = [
            call_id,
            int(count),
            c.role,
            c.input_tokens,
            c.output_tokens,
            c.micro_usd,
            int(c.cached),
        ]
        done = self._run(
            "settle",
            lambda: self._settle(
                keys=[k["counters"], k["held"], k["reserved"], k["settled"]], args=args
            ),
        )
        return bool(int(done))

    def settle(self, charge: Charge) -> bool:
        """See :meth:`BudgetLedger.settle` (idempotent by call id)."""
        return self._apply(charge.call_id, True, charge)

    def release(self, call_id: str) -> None:
        """See :meth:`BudgetLedger.release`."""
        self._apply(call_id, False, None)

    def record(self, charge: Charge) -> bool:
        """See :meth:`BudgetLedger.record`: count usage reported from elsewhere."""
        return self._apply(charge.call_id, True, charge)

    def totals(self) -> LedgerTotals:
        """See :meth:`BudgetLedger.totals`."""
        k = self._keys

        def read() -> tuple[dict[str, str], dict[str, str]]:
            pipe = self._r.pipeline(transaction=True)
            pipe.hgetall(k["counters"])
            pipe.hgetall(k["held"])
            counters, held = pipe.execute()
            return counters, held

        counters, held = self._run("read totals", read)
        base = totals_from_counters({f: int(v) for f, v in counters.items()})
        return LedgerTotals(
            total=base.total,
            by_role=base.by_role,
            reserved_tokens=int(held.get(TOKENS, 0)),
            reserved_micro_usd=int(held.get(COST, 0)),
        )

    def crossed(self) -> str | None:
        """See :meth:`BudgetLedger.crossed` (the store's crossed budget, if a ledger one)."""
        name = self._run("read crossed", lambda: self._r.hget(self._keys["meta"], "crossed_budget"))
        return SPEC_NAMES.get(str(name)) if name else None

    def reap(self, older_than_s: float, *, now: float | None = None) -> int:
        """Charge reservations older than ``older_than_s`` at their worst case.

        A reservation that old belongs to a worker that died mid-call (a call
        is bounded by the provider's timeout and retries); the provider may
        have billed it, so it is counted rather than dropped. Returns how many.
        """
        stamp_now = time.time() if now is None else now
        entries: dict[str, str] = self._run(
            "read reservations", lambda: self._r.hgetall(self._keys["reserved"])
        )
        reaped = 0
        for call_id, value in entries.items():
            tokens, micro_usd, stamp, role = value.split(":", 3)
            if stamp_now - int(stamp) < older_than_s:
                continue
            charge = Charge(
                call_id=call_id,
                role=role if role in ROLES else "evaluation",
                provider="",
                model="",
                input_tokens=int(tokens),
                micro_usd=int(micro_usd),
            )
            reaped += self.settle(charge)
        return reaped
