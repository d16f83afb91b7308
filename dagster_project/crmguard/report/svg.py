"""Inline SVG charts: no JavaScript, no fonts or scripts from the network, readable when printed."""

from __future__ import annotations

import math
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
           "#65a30d", "#9333ea")
STATUS_COLORS = {"succeeded": "#16a34a", "passed": "#16a34a", "failed": "#dc2626", "blocked": "#d97706", "skipped": "#6b7280"}


def color_for(name: str, index: int) -> str:
    return STATUS_COLORS.get(name, PALETTE[index % len(PALETTE)])


def _nice_max(value: float) -> float:
    """A round axis maximum >= value (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _open(title: str, width: int, height: int) -> str:
    """A captioned figure opening an SVG of the given size (the caption is the visible title)."""
    return (f'<figure><figcaption>{escape(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" class="chart">'
            f'<title>{escape(title)}</title>')


def _legend(names: list[str], x: int, y: int) -> str:
    items = []
    for i, name in enumerate(names):
        items.append(f'<rect x="{x}" y="{y + i * 16}" width="10" height="10" fill="{color_for(name, i)}"/>'
                     f'<text x="{x + 14}" y="{y + i * 16 + 9}" class="lg">{escape(name)}</text>')
    return "".join(items)


def stacked_bars(title: str, labels: list[str], series: dict[str, list[float]], width: int = 760,
                 height: int = 260) -> str:
    """Vertical stacked bars, one bar per label (e.g. per day), one colour per series."""
    if not labels:
        return f'<p class="empty">{escape(title)}: no data.</p>'
    left, right, top, bottom = 48, 160, 24, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top_value = _nice_max(max(totals))
    step = plot_w / len(labels)
    bar_w = max(step * 0.7, 1)
    parts = [_open(title, width, height)]
    for tick in range(5):
        value = top_value * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="ax" text-anchor="end">{value:g}</text>')
    # label only every n-th bar so axis labels never overlap (about 6.5 px per character at this size)
    every = max(1, math.ceil(len(labels) * (6.5 * max(len(label) for label in labels) + 8) / plot_w))
    for i, label in enumerate(labels):
        x = left + i * step + (step - bar_w) / 2
        base = top + plot_h
        for j, (name, values) in enumerate(series.items()):
            if not values[i]:
                continue
            h = plot_h * values[i] / top_value
            base -= h
            parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'fill="{color_for(name, j)}"><title>{escape(label)} {escape(name)}: '
                         f'{values[i]:g}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" class="ax" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append(_legend(list(series), width - right + 12, top))
    parts.append("</svg></figure>")
    return "".join(parts)


def horizontal_bars(title: str, labels: list[str], values: list[float], width: int = 760, unit: str = "") -> str:
    """One horizontal bar per label (e.g. per rule x agent), value printed at the end."""
    if not labels:
        return f'<p class="empty">{escape(title)}: no data.</p>'
    row_h, left, right = 20, 260, 60
    height = row_h * len(labels) + 16
    top_value = _nice_max(max(values))
    plot_w = width - left - right
    parts = [_open(title, width, height)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 8 + i * row_h
        w = plot_w * value / top_value
        parts.append(f'<text x="{left - 6}" y="{y + 13}" class="ax" text-anchor="end">{escape(label)}</text>'
                     f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" fill="{PALETTE[0]}">'
                     f'<title>{escape(label)}: {value:g}{unit}</title></rect>'
                     f'<text x="{left + w + 4:.1f}" y="{y + 13}" class="ax">{value:g}{unit}</text>')
    parts.append("</svg></figure>")
    return "".join(parts)


def pivot(rows: list[dict], x: str, series: str, value: str) -> tuple[list[str], dict[str, list[float]]]:
    """Rows (x, series, value) -> sorted x labels and one value list per series (0 where absent)."""
    labels = sorted({str(r[x]) for r in rows})
    index = {label: i for i, label in enumerate(labels)}
    out: dict[str, list[float]] = {}
    for row in rows:
        out.setdefault(str(row[series]), [0.0] * len(labels))[index[str(row[x])]] += float(row[value])
    return labels, dict(sorted(out.items()))
