"""Per-operator outcome counts: the dashboard's "mutation success rate"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

#: What became of one operator application.
#: ``applied``: valid child as produced; ``repaired``: valid after reference repair;
#: ``invalid``: could not be repaired, discarded; ``noop``: nothing to do, or no change.
OutcomeName = Literal["applied", "repaired", "invalid", "noop"]


class OperatorOutcome(BaseModel):
    """One operator application within one offspring.

    ``reason`` says why an ``invalid`` child was discarded when the operator
    knows (LLM proposals: ``no_yaml``, ``invalid_yaml``, ...); it is left out of
    the JSON when None, so results of other operators are unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    operator: str
    outcome: OutcomeName
    reason: str | None = Field(default=None, exclude_if=lambda r: r is None)


class OperatorStats(BaseModel):
    """Counts of outcomes for one operator over a campaign."""

    model_config = ConfigDict(extra="forbid")

    applied: int = 0
    repaired: int = 0
    invalid: int = 0
    noop: int = 0
    discarded: dict[str, int] = Field(default_factory=dict, exclude_if=lambda d: not d)
    """Discards by reason (only for operators that give one); left out when empty."""

    @property
    def attempts(self) -> int:
        """Every application, whatever became of it."""
        return self.applied + self.repaired + self.invalid + self.noop

    @property
    def success_rate(self) -> float:
        """Share of attempts that yielded a valid child (0.0 before any attempt)."""
        return (self.applied + self.repaired) / self.attempts if self.attempts else 0.0

    def report(self) -> dict[str, JsonValue]:
        """The per-operator entry of a generations.jsonl row."""
        row: dict[str, JsonValue] = {
            "attempts": self.attempts,
            "success_rate": round(self.success_rate, 4),
        }
        if self.discarded:
            row["discarded"] = dict(sorted(self.discarded.items()))
        return row


def tally(
    stats: Mapping[str, OperatorStats], outcomes: Iterable[OperatorOutcome]
) -> dict[str, OperatorStats]:
    """Return new stats with ``outcomes`` added (inputs are not modified)."""
    # Count first, then build each operator's stats once: pydantic attribute
    # assignment per outcome dominated this on large generations.
    added: dict[str, Counter[str]] = {}
    reasons: dict[str, Counter[str]] = {}
    for item in outcomes:
        added.setdefault(item.operator, Counter())[item.outcome] += 1
        if item.reason is not None:
            reasons.setdefault(item.operator, Counter())[item.reason] += 1
    merged = {name: s.model_copy() for name, s in stats.items() if name not in added}
    for name, counts in added.items():
        base = stats[name] if name in stats else OperatorStats()
        update: dict[str, object] = {
            outcome: getattr(base, outcome) + n for outcome, n in counts.items()
        }
        if name in reasons:
            discarded = Counter(base.discarded)
            discarded.update(reasons[name])
            update["discarded"] = dict(sorted(discarded.items()))
        merged[name] = base.model_copy(update=update)
    return dict(sorted(merged.items()))
