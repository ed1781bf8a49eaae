from __future__ import annotations

import pytest
from pydantic import ValidationError

from evofarm.providers.base import Usage
from evofarm.providers.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, cost_of


def test_cost_is_per_million_tokens_input_and_output_separately() -> None:
    price = ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0)
    assert price.cost(Usage(input_tokens=1_000_000)) == pytest.approx(3.0)
    assert price.cost(Usage(output_tokens=1_000_000)) == pytest.approx(15.0)
    assert price.cost(Usage(input_tokens=2000, output_tokens=1000)) == pytest.approx(0.021)


def test_default_table_prices_the_configured_claude_models_and_gemini() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_of("claude-haiku-4-5", usage) == pytest.approx(6.0)
    assert cost_of("claude-sonnet-4-5", usage) == pytest.approx(18.0)
    assert cost_of("claude-opus-4-1", usage) == pytest.approx(90.0)
    assert cost_of("gemini-2.5-flash", usage) > 0


def test_dated_ids_use_the_longest_matching_prefix() -> None:
    usage = Usage(input_tokens=1_000_000)
    assert cost_of("claude-sonnet-4-5-20250929", usage) == pytest.approx(3.0)
    # "gemini-2.5-flash-lite" must not be priced as "gemini-2.5-flash".
    lite = DEFAULT_PRICES.price_of("gemini-2.5-flash-lite-001")
    assert lite == DEFAULT_PRICES["gemini-2.5-flash-lite"]


def test_unknown_model_costs_nothing() -> None:
    assert cost_of("no-such-model", Usage(input_tokens=10, output_tokens=10)) == 0.0
    assert DEFAULT_PRICES.price_of("no-such-model") is None


def test_campaign_catalogue_overrides_defaults() -> None:
    table = DEFAULT_PRICES.merged(
        {"claude-haiku-4-5": ModelPrice(input_per_mtok=0, output_per_mtok=1)}
    )
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_of("claude-haiku-4-5", usage, table) == pytest.approx(1.0)
    assert cost_of("claude-haiku-4-5", usage) == pytest.approx(6.0)  # default untouched
    custom = PriceTable({"m": ModelPrice(input_per_mtok=1, output_per_mtok=2)})
    assert len(custom) == 1 and list(custom) == ["m"]


def test_negative_prices_are_rejected() -> None:
    with pytest.raises(ValidationError):
        ModelPrice(input_per_mtok=-1, output_per_mtok=0)
