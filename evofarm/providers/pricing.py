"""Model prices and the cost of a call.

Prices are USD per million tokens, input and output separately, the way the
vendors publish them. :data:`DEFAULT_PRICES` covers the Claude models the settings
name by default and the common Gemini models; a campaign passes its own
catalogue (a :class:`PriceTable`) when it needs different or newer figures.

A model missing from the table costs nothing rather than failing the call: cost is
accounting, not control. Budgets that must not be crossed count tokens too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pydantic import BaseModel, ConfigDict, Field

from evofarm.providers.base import Usage

_PER_MILLION = 1_000_000


class ModelPrice(BaseModel):
    """USD per million input and output tokens of one model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: float = Field(ge=0.0)
    output_per_mtok: float = Field(ge=0.0)

    def cost(self, usage: Usage) -> float:
        """The USD cost of ``usage`` at this price."""
        return (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / _PER_MILLION


class PriceTable(Mapping[str, ModelPrice]):
    """An immutable model id -> price catalogue.

    Lookup is exact first, then by the longest known prefix, so a dated model id
    such as ``claude-sonnet-4-5-20250929`` is priced like ``claude-sonnet-4-5``.
    """

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices: dict[str, ModelPrice] = dict(prices or {})
        # Longest first, so the most specific prefix wins.
        self._prefixes = sorted(self._prices, key=len, reverse=True)

    def __getitem__(self, model: str) -> ModelPrice:
        return self._prices[model]

    def __iter__(self) -> Iterator[str]:
        return iter(self._prices)

    def __len__(self) -> int:
        return len(self._prices)

    def price_of(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (exact id or longest matching prefix), or None."""
        exact = self._prices.get(model)
        if exact is not None:
            return exact
        for prefix in self._prefixes:
            if model.startswith(prefix):
                return self._prices[prefix]
        return None

    def cost_of(self, model: str, usage: Usage) -> float:
        """The USD cost of ``usage`` on ``model``; 0.0 for an unknown model."""
        price = self.price_of(model)
        return price.cost(usage) if price is not None else 0.0

    def merged(self, overrides: Mapping[str, ModelPrice]) -> PriceTable:
        """A new table: this one with ``overrides`` added or replacing entries."""
        return PriceTable({**self._prices, **overrides})


def _p(inp: float, out: float) -> ModelPrice:
    return ModelPrice(input_per_mtok=inp, output_per_mtok=out)


DEFAULT_PRICES = PriceTable(
    {
        "claude-haiku-4-5": _p(1.0, 5.0),
        "claude-sonnet-4-5": _p(3.0, 15.0),
        "claude-sonnet-4-6": _p(3.0, 15.0),
        "claude-opus-4-5": _p(5.0, 25.0),
        "claude-sonnet-4": _p(3.0, 15.0),
        "claude-opus-4-1": _p(15.0, 75.0),
        "claude-opus-4": _p(15.0, 75.0),
        "claude-3-5-haiku": _p(0.8, 4.0),
        "claude-3-haiku": _p(0.25, 1.25),
        "gemini-2.5-flash": _p(0.30, 2.50),
        "gemini-2.5-flash-lite": _p(0.10, 0.40),
        "gemini-2.5-pro": _p(1.25, 10.0),
        "gemini-2.0-flash": _p(0.10, 0.40),
    }
)


def cost_of(model: str, usage: Usage, prices: PriceTable | None = None) -> float:
    """The USD cost of ``usage`` on ``model`` with ``prices`` (default table if None)."""
    return (prices if prices is not None else DEFAULT_PRICES).cost_of(model, usage)
