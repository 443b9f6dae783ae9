"""Server-rendered SVG charts: horizontal bars, stacked bars and a line chart.

Colours and text styles come from classes in console.css (the CSP allows no inline
style); every chart has a <title> and the page shows the same numbers in a table.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = 6  # classes s0..s5 in console.css
ROW = 26
LABEL_W = 190
BAR_W = 420


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def bars(title: str, items: Sequence[tuple[str, float]], *, maximum: float | None = None) -> Markup:
    """One bar per item, value written at the end of the bar."""
    top = maximum or max((v for _, v in items), default=0) or 1
    height = ROW * max(len(items), 1) + 10
    width = LABEL_W + BAR_W + 60
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(items):
        y = 5 + i * ROW
        w = round(BAR_W * value / top, 1)
        parts.append(
            f'<text class="lbl" x="{LABEL_W - 8}" y="{y + 16}" text-anchor="end">'
            f"{escape(_short(label))}</text>"
            f'<rect class="s0" x="{LABEL_W}" y="{y + 3}" width="{w}" height="{ROW - 8}" rx="2"/>'
            f'<text class="val" x="{LABEL_W + w + 6}" y="{y + 16}">{escape(_num(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every dynamic part is escaped above


def stacked(
    title: str, rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[str]
) -> Markup:
    """One bar per row split into `series` segments, with a legend."""
    top = max((sum(v) for _, v in rows), default=0) or 1
    height = ROW * max(len(rows), 1) + 20 + 18 * ((len(series) + 2) // 3)
    width = LABEL_W + BAR_W + 60
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, values) in enumerate(rows):
        y = 5 + i * ROW
        x = float(LABEL_W)
        parts.append(
            f'<text class="lbl" x="{LABEL_W - 8}" y="{y + 16}" text-anchor="end">'
            f"{escape(_short(label))}</text>"
        )
        for j, value in enumerate(values):
            w = round(BAR_W * value / top, 1)
            if w:
                parts.append(
                    f'<rect class="s{j % PALETTE}" x="{x}" y="{y + 3}" width="{w}"'
                    f' height="{ROW - 8}"><title>{escape(series[j])}: {_num(value)}</title></rect>'
                )
            x += w
        parts.append(f'<text class="val" x="{x + 6}" y="{y + 16}">{_num(sum(values))}</text>')
    _legend(parts, series, 5 + len(rows) * ROW + 8)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every dynamic part is escaped above


def lines(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    maximum: float = 5,
) -> Markup:
    """A line per series over `x_labels` (months); gaps where a value is None."""
    plot_h, left, width = 180, 40, LABEL_W + BAR_W + 60
    step = (width - left - 20) / max(len(x_labels) - 1, 1)
    height = plot_h + 50 + 18 * ((len(series) + 2) // 3)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for tick in range(int(maximum) + 1):
        y = 10 + plot_h - plot_h * tick / maximum
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="val" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>'
        )
    for i, label in enumerate(x_labels):
        parts.append(
            f'<text class="lbl" x="{left + i * step:.1f}" y="{plot_h + 28}"'
            f' text-anchor="middle">{escape(label)}</text>'
        )
    for j, (name, values) in enumerate(series):
        points = [
            (left + i * step, 10 + plot_h - plot_h * v / maximum)
            for i, v in enumerate(values)
            if v is not None
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        cls = f"s{j % PALETTE}"
        parts.append(f'<polyline class="line {cls}" points="{path}"><title>{escape(name)}</title>')
        parts.append("</polyline>")
        for x, y in points:
            parts.append(f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="3"/>')
    _legend(parts, [name for name, _ in series], plot_h + 44)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every dynamic part is escaped above


def _legend(parts: list[str], names: Sequence[str], y: float) -> None:
    for j, name in enumerate(names):
        x = LABEL_W * (j % 3) + 10
        row = y + 18 * (j // 3)
        parts.append(
            f'<rect class="s{j % PALETTE}" x="{x}" y="{row}" width="12" height="12"/>'
            f'<text class="lbl" x="{x + 18}" y="{row + 11}">{escape(_short(name, 26))}</text>'
        )


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
