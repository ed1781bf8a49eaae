"""The budget ledger: every provider call a campaign causes, reserved then settled.

One ledger per campaign. Before a call is sent, :meth:`BudgetLedger.reserve`
books its worst case (an upper bound of its input tokens plus ``max_tokens``,
at the model's price); a reservation that would take the spent-plus-reserved
total past a budget is refused with :class:`~evofarm.errors.BudgetExceeded`
naming the budget, and the ledger remembers the first budget so refused
(:meth:`BudgetLedger.crossed`), which stops the campaign. After the call,
:meth:`BudgetLedger.settle` replaces the reservation by what the provider
billed. So the billed total never exceeds a budget.

Calls are identified by a ``call_id`` the caller makes unique per provider
call (a uuid): :meth:`settle` and :meth:`record` count an id once, whatever
retries of the bookkeeping itself happen. :meth:`record` counts a call that
was made elsewhere without a reservation (a proposer call in a breed worker,
whose usage travels in ``BreedResult``): ``record(Charge(...))``.

Every charge carries a :data:`Role` (``evaluation``, ``proposer``, ``judge``);
:meth:`BudgetLedger.totals` gives the campaign's totals and a per-role
breakdown: the one source of tokens and cost for the summary, the budgets and
the dashboard. Cached answers are charged nothing and counted apart.

Amounts are integers (tokens, micro-dollars), so sums are exact. This module
defines the interface and the in-process :class:`MemoryLedger`;
``evofarm.fleet.ledger.RedisLedger`` is the fleet-wide one (same conformance
tests, :mod:`evofarm.testing.ledger_conformance`). Implementations must be
thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from evofarm.errors import BudgetExceeded

Role = Literal["evaluation", "proposer", "judge"]
ROLES: tuple[Role, ...] = ("evaluation", "proposer", "judge")
MICRO = 1_000_000

#: Budget names as the campaign file and the store counters spell them.
TOKENS = "tokens"
COST = "cost_micro_usd"
SPEC_NAMES = {TOKENS: "max_tokens", COST: "max_usd"}


@dataclass(frozen=True)
class Charge:
    """What one provider call cost, as the trusted side saw it.

    Attributes:
        call_id: Unique per provider call (settling the same id twice counts once).
        role: Who made the call.
        provider: Provider name (``anthropic``).
        model: Concrete model id the provider billed.
        input_tokens: Billed input tokens (0 for a cached answer).
        output_tokens: Billed output tokens (0 for a cached answer).
        micro_usd: Billed cost in micro-dollars at the campaign's price.
        cached: Answered from a response cache (free; counted apart).
    """

    call_id: str
    role: Role
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    micro_usd: int = 0
    cached: bool = False

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Limits:
    """A campaign's ledger budgets (None: unlimited)."""

    max_tokens: int | None = None
    max_micro_usd: int | None = None

    @property
    def budgeted(self) -> bool:
        """Whether any budget applies (then unpriced models are refused)."""
        return self.max_tokens is not None or self.max_micro_usd is not None

    def as_counters(self) -> dict[str, int]:
        """``{tokens: N, cost_micro_usd: M}`` for the set budgets."""
        out: dict[str, int] = {}
        if self.max_tokens is not None:
            out[TOKENS] = self.max_tokens
        if self.max_micro_usd is not None:
            out[COST] = self.max_micro_usd
        return out


@dataclass(frozen=True)
class RoleTotals:
    """Sums over one role's calls (or all of them)."""

    calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    micro_usd: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cost_usd(self) -> float:
        return self.micro_usd / MICRO

    def plus(self, charge: Charge) -> RoleTotals:
        return RoleTotals(
            self.calls + (not charge.cached),
            self.cached_calls + charge.cached,
            self.input_tokens + charge.input_tokens,
            self.output_tokens + charge.output_tokens,
            self.micro_usd + charge.micro_usd,
        )

    def to_json(self) -> dict[str, int | float]:
        return {
            "calls": self.calls,
            "cached_calls": self.cached_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens": self.tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


@dataclass(frozen=True)
class LedgerTotals:
    """The campaign's totals and their per-role breakdown (roles with no call are absent)."""

    total: RoleTotals = RoleTotals()
    by_role: dict[str, RoleTotals] = field(default_factory=dict)
    reserved_tokens: int = 0
    reserved_micro_usd: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            **self.total.to_json(),
            "by_role": {r: t.to_json() for r, t in self.by_role.items()},
        }


#: Per-role fields of a campaign's store counters (``llm:<role>:<field>``).
COUNTER_FIELDS = ("calls", "cached_calls", "input_tokens", "output_tokens", "micro_usd")


def totals_from_counters(counters: Mapping[str, int]) -> LedgerTotals:
    """The ledger's totals as read from a campaign's store counters."""
    by_role: dict[str, RoleTotals] = {}
    for role in ROLES:
        values = [int(counters.get(f"llm:{role}:{f}", 0)) for f in COUNTER_FIELDS]
        if any(values):
            by_role[role] = RoleTotals(*values)
    total = RoleTotals(*(sum(getattr(t, f) for t in by_role.values()) for f in COUNTER_FIELDS))
    return LedgerTotals(total=total, by_role=by_role)


def refusal(budget: str, used: int, reserved: int, wanted: int, limit: int) -> BudgetExceeded:
    """The error of a refused reservation, naming the campaign-file budget."""
    name = SPEC_NAMES.get(budget, budget)
    if budget == COST:
        text = (
            f"budget exceeded: {name} ({used / MICRO:.6f} spent + {reserved / MICRO:.6f} reserved "
            f"+ {wanted / MICRO:.6f} for this call > {limit / MICRO:g})"
        )
    else:
        text = (
            f"budget exceeded: {name} ({used} spent + {reserved} reserved + {wanted} "
            f"for this call > {limit})"
        )
    return BudgetExceeded(name, text)


@runtime_checkable
class BudgetLedger(Protocol):
    """One campaign's ledger (see the module docs). Thread- and process-safe as implemented."""

    def reserve(
        self, call_id: str, *, tokens: int, micro_usd: int, role: str = "evaluation"
    ) -> None:
        """Book a call's worst case (for ``role``) before it is sent.

        Raises:
            BudgetExceeded: the reservation would cross a budget (then remembered
                as :meth:`crossed`); nothing is booked.
        """
        ...

    def settle(self, charge: Charge) -> bool:
        """Replace ``charge.call_id``'s reservation by the billed ``charge``.

        Returns True if this call counted it, False if the id was already counted.
        """
        ...

    def release(self, call_id: str) -> None:
        """Drop the reservation of a call that was not billed (refused, failed to send)."""
        ...

    def record(self, charge: Charge) -> bool:
        """Count a call made without a reservation (usage reported from elsewhere).

        Returns True if counted now, False if the id was counted before.
        """
        ...

    def totals(self) -> LedgerTotals:
        """Totals and the per-role breakdown so far."""
        ...

    def crossed(self) -> str | None:
        """The campaign-file name of the first budget a reservation was refused for."""
        ...


class MemoryLedger:
    """The in-process :class:`BudgetLedger` (one process, any threads)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._reserved: dict[str, tuple[int, int]] = {}
        self._settled: set[str] = set()
        self._total = RoleTotals()
        self._by_role: dict[str, RoleTotals] = {}
        self._crossed: str | None = None

    def reserve(
        self, call_id: str, *, tokens: int, micro_usd: int, role: str = "evaluation"
    ) -> None:
        del role  # only a fleet ledger needs it (to charge a dead worker's call)
        with self._lock:
            if call_id in self._reserved or call_id in self._settled:
                return
            held_tokens = sum(t for t, _ in self._reserved.values())
            held_micro = sum(m for _, m in self._reserved.values())
            checks = (
                (TOKENS, self._total.tokens, held_tokens, tokens, self.limits.max_tokens),
                (COST, self._total.micro_usd, held_micro, micro_usd, self.limits.max_micro_usd),
            )
            for budget, used, held, wanted, limit in checks:
                if limit is not None and used + held + wanted > limit:
                    if self._crossed is None:
                        self._crossed = SPEC_NAMES[budget]
                    raise refusal(budget, used, held, wanted, limit)
            self._reserved[call_id] = (tokens, micro_usd)

    def settle(self, charge: Charge) -> bool:
        with self._lock:
            self._reserved.pop(charge.call_id, None)
            return self._count(charge)

    def release(self, call_id: str) -> None:
        with self._lock:
            self._reserved.pop(call_id, None)

    def record(self, charge: Charge) -> bool:
        with self._lock:
            return self._count(charge)

    def _count(self, charge: Charge) -> bool:
        if charge.call_id in self._settled:
            return False
        self._settled.add(charge.call_id)
        self._total = self._total.plus(charge)
        self._by_role[charge.role] = self._by_role.get(charge.role, RoleTotals()).plus(charge)
        return True

    def totals(self) -> LedgerTotals:
        with self._lock:
            return LedgerTotals(
                total=self._total,
                by_role=dict(self._by_role),
                reserved_tokens=sum(t for t, _ in self._reserved.values()),
                reserved_micro_usd=sum(m for _, m in self._reserved.values()),
            )

    def crossed(self) -> str | None:
        with self._lock:
            return self._crossed
