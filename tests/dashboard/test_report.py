"""The shareable report: one self-contained HTML file."""

from __future__ import annotations

import re

from evofarm.dashboard.report import render_report, trend_svg
from evofarm.store.memory import MemoryStore


def test_report_is_self_contained_and_complete(farm_store: tuple[MemoryStore, str, str]) -> None:
    store, done, _ = farm_store
    html = render_report(store, done)
    assert "<script" not in html and not re.search(r"(src|href)=['\"]?https?:", html)
    for part in (
        "Fitness trend",
        "Lineage of the best",
        "Operators",
        "valid-child rate",
        "improvement rate",
        "cost (USD)",
        "Best pipeline",
        "Diff from the seed",
        "<svg",
    ):
        assert part in html, part
    best = store.get_info(done, "best_fitness")
    assert best is not None and f"{float(best):.4f}" in html
    assert "id='best-yaml'" in html and "steps:" in html


def test_trend_svg_draws_both_series() -> None:
    svg = trend_svg(
        [
            {"generation": 0, "best": 0.2, "median": 0.1},
            {"generation": 1, "best": 0.5, "median": None},
        ]
    )
    best = re.search(r'class="best" points="([^"]*)"', svg)
    median = re.search(r'class="median" points="([^"]*)"', svg)
    assert best and len(best.group(1).split()) == 2
    assert median and len(median.group(1).split()) == 1
