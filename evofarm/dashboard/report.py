"""``evofarm report ID -o report.html``: one self-contained HTML file to share.

No script, no network: the charts are inline SVG drawn here, the styles are
inline. It holds the fitness trend (best and median per generation), the
lineage of the best genome, the operator statistics, the cost, the best
pipeline and its diff from the seed it descends from.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from html import escape
from typing import Any

from evofarm.dashboard import views
from evofarm.store.base import PopulationStore

STYLE = """
body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#1d232a}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #e3e7eb}
th{background:#f0f3f6}pre{background:#f3f5f7;padding:.6em;overflow:auto;font-size:.82em}
.add{color:#176a2a}.del{color:#a3201d}.muted{color:#6b7785}
"""


def trend_svg(history: Sequence[dict[str, Any]], width: int = 720, height: int = 220) -> str:
    """Best (green) and median (blue) fitness per generation as an inline SVG."""
    left, bottom, top, right = 40, 26, 10, 10
    last = max(1, len(history) - 1)

    def x(g: float) -> float:
        return left + (width - left - right) * g / last

    def y(v: float) -> float:
        return height - bottom - (height - bottom - top) * v

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="fitness trend">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
        f'y2="{height - bottom}" stroke="#99a"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#99a"/>',
        f'<text x="4" y="{y(1) + 4}" font-size="11">1.0</text>',
        f'<text x="4" y="{y(0) + 4}" font-size="11">0.0</text>',
        f'<text x="{width / 2}" y="{height - 6}" font-size="11">generation</text>',
    ]
    for key, color in (("best", "#176a2a"), ("median", "#1464b4")):
        points = [(h["generation"], h[key]) for h in history if h.get(key) is not None]
        coords = " ".join(f"{x(g):.1f},{y(float(v)):.1f}" for g, v in points)
        parts.append(
            f'<polyline class="{key}" points="{coords}" fill="none" stroke="{color}" '
            'stroke-width="2"/>'
        )
        offset = 0 if key == "best" else 120
        parts.append(
            f'<text x="{left + 10 + offset}" y="{top + 12}" fill="{color}" '
            f'font-size="12">{key}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _diff(before: str, after: str, names: tuple[str, str]) -> str:
    lines = []
    for line in difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), *names
    ):
        cls = "add" if line.startswith("+") else "del" if line.startswith("-") else ""
        text = escape(line.rstrip("\n"))
        lines.append(f'<span class="{cls}">{text}</span>' if cls else text)
    return "\n".join(lines) or "(identical)"


def render_report(store: PopulationStore, campaign: str) -> str:
    """The report's HTML.

    Raises:
        CampaignStateError: no such campaign.
    """
    detail = views.campaign_detail(store, campaign)
    history = views.history(store, campaign)
    ops = views.operator_stats(store, campaign)
    chain = views.best_lineage(store, campaign)
    best_html = "<p class='muted'>No genome was evaluated.</p>"
    if detail["best"] is not None:
        best = views.genome_detail(store, campaign, detail["best"])
        seed = chain[0]["id"] if chain else detail["best"]
        seed_yaml = views.genome_detail(store, campaign, seed)["yaml"]
        names = (f"seed {seed[:12]}", f"best {best['id'][:12]}")
        best_html = (
            f"<pre id='best-yaml'>{escape(best['yaml'])}</pre>"
            f"<h3>Diff from the seed</h3><pre id='seed-diff'>"
            f"{_diff(seed_yaml, best['yaml'], names)}</pre>"
        )
    figures = [
        ("status", f"{detail['status']} ({detail['reason']})"),
        ("generations", f"{detail['generation']}/{detail['generations']}"),
        ("best fitness", detail["best_fitness"]),
        ("evaluations", detail["evaluations"]),
        ("tokens", detail["tokens"]),
        ("cost (USD)", detail["cost_usd"]),
        ("wall time (s)", detail["wall_s"]),
        ("approval", detail["approval"]),
    ]
    lineage_rows = [[n["generation"], n["id"][:12], n["operator"], n["fitness"]] for n in chain]
    op_rows = [
        [
            o["operator"],
            o["attempts"],
            o["valid_child_rate"],
            o["evaluated_children"],
            o["improvement_rate"],
        ]
        for o in ops
    ]
    trend_rows = [[h["generation"], h["best"], h["median"], h["evaluations"]] for h in history]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>evofarm report: {escape(campaign)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(campaign)}</h1><p class='muted'>evofarm report, {stamp}</p>"
        f"<h2>Summary</h2>{_table(['figure', 'value'], figures)}"
        f"<h2>Fitness trend</h2>{trend_svg(history)}"
        f"{_table(['generation', 'best', 'median', 'evaluations'], trend_rows)}"
        f"<h2>Lineage of the best</h2>"
        f"{_table(['generation', 'genome', 'operator', 'fitness'], lineage_rows)}"
        "<h2>Operators</h2><p class='muted'>valid-child rate: share of attempts giving a "
        "valid child; improvement rate: share of evaluated children fitter than their best "
        "parent.</p>"
        f"{_table(['operator', 'attempts', 'valid-child rate', 'children', 'improvement rate'], op_rows)}"  # noqa: E501
        f"<h2>Best pipeline</h2>{best_html}</body></html>\n"
    )
