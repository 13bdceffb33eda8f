"""The wallboard's chart, drawn on the server as SVG (no script library, no CDN): a day's
15-minute intervals as stacked bars (answered, abandoned, short abandons, the rest of the
offered calls) with the service level as a line against its 0–100 % axis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 44, 28, 30
COLOURS = {"answered": "#1b7f3b", "abandoned": "#b00020", "short": "#e08a00",
           "other": "#9aa5b1", "sl": "#0b4f9c", "grid": "#d0d7de", "text": "#333"}


def _scale_top(peak: int) -> int:
    """A round top for the count axis: four grid steps of 1, 2, 5, 10, 20, 50 … calls."""
    scale = 1
    while True:
        for mantissa in (1, 2, 5):
            if mantissa * scale * 4 >= peak:
                return mantissa * scale * 4
        scale *= 10


def history_svg(rows: Sequence[dict[str, Any]], zone: str, label: Callable[[str], str]) -> str:
    """The SVG of one day's intervals (``rows`` as ``Wallboard.intervals`` gives them)."""
    tz = ZoneInfo(zone)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(rows))
    slot = plot_w / n
    top = _scale_top(max((int(r["offered"]) for r in rows), default=0))
    y = lambda v: TOP + plot_h - plot_h * v / top  # noqa: E731 - local scale
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'class="wb-chart" role="img" aria-labelledby="wb-chart-title">',
           f'<title id="wb-chart-title">{escape(label("wallboard.chart.title"))}</title>']
    for i in range(5):  # horizontal grid, counts on the left, SL % on the right
        value = top * i / 4
        yy = y(value)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" '
                   f'stroke="{COLOURS["grid"]}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" '
                   f'fill="{COLOURS["text"]}">{int(value)}</text>')
        out.append(f'<text x="{WIDTH - RIGHT + 6}" y="{yy + 4:.1f}" font-size="11" '
                   f'fill="{COLOURS["sl"]}">{25 * i}%</text>')
    lines: list[list[str]] = [[]]  # the service level, broken where an interval has none
    for i, row in enumerate(rows):
        x = LEFT + i * slot
        stack = (("answered", int(row["answered"])), ("abandoned", int(row["abandoned"])),
                 ("short", int(row["short_abandoned"])),
                 ("other", int(row["offered"]) - int(row["answered"]) - int(row["abandoned"])
                  - int(row["short_abandoned"])))
        base = 0
        for kind, count in stack:
            if count <= 0:
                continue
            y1, y0 = y(base + count), y(base)
            out.append(f'<rect class="bar {kind}" x="{x + 1:.1f}" y="{y1:.1f}" '
                       f'width="{max(1.0, slot - 2):.1f}" height="{y0 - y1:.1f}" '
                       f'fill="{COLOURS[kind]}"><title>{escape(_when(row["start"], tz))} '
                       f'{escape(label("wallboard.kind." + kind))} {count}</title></rect>')
            base += count
        if row.get("service_level") is not None:
            sl_y = TOP + plot_h - plot_h * float(row["service_level"])
            lines[-1].append(f"{x + slot / 2:.1f},{sl_y:.1f}")
        elif lines[-1]:
            lines.append([])
        if i % 8 == 0:  # every two hours
            out.append(f'<text x="{x:.1f}" y="{HEIGHT - 10}" font-size="11" '
                       f'fill="{COLOURS["text"]}">{escape(_when(row["start"], tz))}</text>')
    for points in lines:
        if len(points) == 1:  # a lone interval: a dot
            cx, cy = points[0].split(",")
            out.append(f'<circle class="sl" cx="{cx}" cy="{cy}" r="3" fill="{COLOURS["sl"]}"/>')
        elif points:
            out.append(f'<polyline class="sl" fill="none" stroke="{COLOURS["sl"]}" '
                       f'stroke-width="2" points="{" ".join(points)}"/>')
    out.append(_legend(label))
    out.append("</svg>")
    return "".join(out)


def _legend(label: Callable[[str], str]) -> str:
    parts, x = [], LEFT
    for kind in ("answered", "abandoned", "short", "other", "sl"):
        text = escape(label("wallboard.kind." + kind))
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{COLOURS[kind]}"/>'
                     f'<text x="{x + 16}" y="18" font-size="12" fill="{COLOURS["text"]}">{text}</text>')
        x += 30 + 14 * len(text)
    return "".join(parts)


def _when(start: Any, tz: ZoneInfo) -> str:
    at = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
    return at.astimezone(tz).strftime("%H:%M")
