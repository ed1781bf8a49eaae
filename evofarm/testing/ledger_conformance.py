"""The conformance suite every :class:`~evofarm.providers.ledger.BudgetLedger` passes.

Subclass :class:`LedgerConformance` with a ``ledger`` fixture that takes
:class:`~evofarm.providers.ledger.Limits` (``make_ledger(limits)``);
``tests/fleet/test_ledger.py`` does for the memory and the Redis ledger.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from evofarm.errors import BudgetExceeded
from evofarm.providers.ledger import BudgetLedger, Charge, Limits

MakeLedger = Callable[[Limits], BudgetLedger]


def charge(call_id: str, tokens: int = 10, micro: int = 100, **kw: object) -> Charge:
    """A charge of ``tokens`` (all input) and ``micro`` micro-dollars."""
    return Charge(
        call_id=call_id,
        role=kw.pop("role", "evaluation"),  # type: ignore[arg-type]
        provider="anthropic",
        model="claude-haiku-4-5",
        input_tokens=tokens,
        micro_usd=micro,
        cached=bool(kw.pop("cached", False)),
    )


class LedgerConformance:
    """Behaviour shared by every ledger implementation."""

    @pytest.fixture
    def make_ledger(self) -> MakeLedger:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_settle_counts_once_per_call_id(self, make_ledger: MakeLedger) -> None:
        ledger = make_ledger(Limits())
        ledger.reserve("a", tokens=100, micro_usd=1000)
        assert ledger.totals().reserved_tokens == 100
        assert ledger.settle(charge("a"))
        assert not ledger.settle(charge("a"))
        assert not ledger.record(charge("a"))
        totals = ledger.totals()
        assert (totals.total.tokens, totals.total.micro_usd, totals.total.calls) == (10, 100, 1)
        assert totals.reserved_tokens == 0 and totals.reserved_micro_usd == 0

    def test_roles_and_cached_calls_are_apart(self, make_ledger: MakeLedger) -> None:
        ledger = make_ledger(Limits())
        ledger.record(charge("e1"))
        ledger.record(charge("p1", 5, 50, role="proposer"))
        ledger.record(charge("j1", 1, 1, role="judge"))
        ledger.record(charge("e2", 0, 0, cached=True))
        totals = ledger.totals()
        assert totals.total.tokens == 16 and totals.total.micro_usd == 151
        assert totals.by_role["proposer"].tokens == 5
        assert totals.by_role["evaluation"].calls == 1
        assert totals.by_role["evaluation"].cached_calls == 1
        assert totals.by_role["judge"].micro_usd == 1

    def test_a_reservation_over_the_budget_is_refused_and_named(
        self, make_ledger: MakeLedger
    ) -> None:
        ledger = make_ledger(Limits(max_micro_usd=1000))
        ledger.reserve("a", tokens=1, micro_usd=600)
        with pytest.raises(BudgetExceeded) as info:
            ledger.reserve("b", tokens=1, micro_usd=500)
        assert info.value.budget == "max_usd"
        assert ledger.crossed() == "max_usd"
        ledger.settle(charge("a", micro=100))
        ledger.reserve("c", tokens=1, micro_usd=900)  # the settled call freed its reservation
        assert ledger.totals().reserved_micro_usd == 900

    def test_token_budget(self, make_ledger: MakeLedger) -> None:
        ledger = make_ledger(Limits(max_tokens=50))
        ledger.reserve("a", tokens=50, micro_usd=0)
        with pytest.raises(BudgetExceeded) as info:
            ledger.reserve("b", tokens=1, micro_usd=0)
        assert info.value.budget == "max_tokens"

    def test_release_frees_without_counting(self, make_ledger: MakeLedger) -> None:
        ledger = make_ledger(Limits(max_tokens=100))
        ledger.reserve("a", tokens=100, micro_usd=0)
        ledger.release("a")
        assert ledger.totals().total.calls == 0
        ledger.reserve("b", tokens=100, micro_usd=0)

    def test_concurrent_reservations_never_overspend(self, make_ledger: MakeLedger) -> None:
        ledger = make_ledger(Limits(max_micro_usd=10_000))
        granted: list[str] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            for i in range(25):
                call = f"{n}-{i}"
                try:
                    ledger.reserve(call, tokens=1, micro_usd=100)
                except BudgetExceeded:
                    continue
                ledger.settle(charge(call, micro=60))
                with lock:
                    granted.append(call)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        totals = ledger.totals()
        assert totals.total.micro_usd == 60 * len(granted) <= 10_000
        assert totals.total.calls == len(granted)
