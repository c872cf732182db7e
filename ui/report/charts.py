"""Histograms as inline SVG, drawn here so the report needs no chart library and loads nothing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 360, 150, 28
BINS = 20


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile of sorted ``values`` (0 when empty)."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(values)))
    return float(values[min(rank, len(values)) - 1])


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def bins(values: Sequence[float], count: int = BINS, integer: bool = False) -> list[tuple[float, float, int]]:
    """(low, high, n) per bin over [min, max]; integer data gets bins of whole numbers."""
    if not values:
        return []
    low, high = min(values), max(values)
    if integer:
        width = max(1.0, math.ceil((high - low + 1) / count))
    else:
        width = (high - low) / count or 1.0
    n = max(1, min(count, math.ceil((high - low) / width) + (1 if integer else 0)))
    counts = [0] * n
    for value in values:
        counts[min(n - 1, int((value - low) / width))] += 1
    return [(low + i * width, low + (i + 1) * width, c) for i, c in enumerate(counts)]


def histogram(title: str, values: Sequence[float], unit: str = "", integer: bool = False) -> str:
    """One histogram with its axis ends, and p50/p90/p99/max underneath. Every label is escaped."""
    ordered = sorted(values)
    parts = [
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>',
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title, quote=True)}">',
    ]
    groups = bins(ordered, integer=integer)
    if groups:
        top = max(c for _, _, c in groups)
        inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
        bar_w = inner_w / len(groups)
        for i, (lo, hi, count) in enumerate(groups):
            h = inner_h * count / top if top else 0
            x, y = PAD + i * bar_w, HEIGHT - PAD - h
            span = f"{_fmt(lo)}" if integer and hi - lo <= 1 else f"{_fmt(lo)}–{_fmt(hi)}"
            tip = escape(f"{span}{unit}: {count} question(s)")
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}">'
                f"<title>{tip}</title></rect>"
            )
        parts.append(f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>')
        parts.append(f'<text x="{PAD}" y="{HEIGHT - 10}">{escape(_fmt(groups[0][0]) + unit)}</text>')
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 10}" text-anchor="end">{escape(_fmt(groups[-1][1]) + unit)}</text>'
        )
        parts.append(f'<text x="{PAD}" y="{PAD - 8}">{top}</text>')
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text>')
    parts.append("</svg>")
    stats = " · ".join(
        f"{name} {escape(_fmt(percentile(ordered, q)) + unit)}" for name, q in (("p50", 50), ("p90", 90), ("p99", 99))
    )
    if ordered:
        stats += f" · max {escape(_fmt(ordered[-1]) + unit)} · n {len(ordered)}"
    parts.append(f'<div class="stats">{stats}</div></figure>')
    return "".join(parts)
