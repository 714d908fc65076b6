"""Line charts as inline SVG text: what the HTML report draws its curves with.

A report must open offline and stay small, so no charting library is embedded (plotly's
JavaScript alone is about 4 MB); a few polylines, ticks and a legend say the same.
"""
from __future__ import annotations

import math
from html import escape

PALETTE = ["#4F46E5", "#F97316", "#10B981", "#E11D48", "#0EA5E9", "#A855F7", "#EAB308", "#64748B"]
MAX_POINTS = 400  # per line; more only makes the file bigger


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 5 x 10^k steps)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    start = math.ceil(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _span(values: list[float]) -> tuple[float, float]:
    """(low, high) of the values, widened around a single value so it sits mid-axis."""
    low, high = min(values), max(values)
    if high > low:
        return low, high
    pad = abs(low) * 0.1 or 0.5
    return low - pad, high + pad


def tick_text(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.0e}"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def line_chart(lines: dict[str, tuple[list[float], list[float]]], title: str = "", x_label: str = "",
               y_label: str = "", width: int = 560, height: int = 260) -> str:
    """An ``<svg>`` element: one polyline per entry of ``lines`` (label -> (xs, ys)),
    non-finite points dropped, a legend under the title."""
    clean = {}
    for label, (xs, ys) in lines.items():
        pts = [(float(x), float(y)) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
        if len(pts) > MAX_POINTS:
            stride = math.ceil(len(pts) / MAX_POINTS)
            pts = pts[::stride] + ([pts[-1]] if (len(pts) - 1) % stride else [])
        if pts:
            clean[label] = pts
    legend_rows = math.ceil(len(clean) / 3) if len(clean) > 1 else 0
    top, left, right, bottom = 30 + 16 * legend_rows, 56, 14, 40
    out = [f'<svg width="{width}" height="{height + 16 * legend_rows}" '
           f'viewBox="0 0 {width} {height + 16 * legend_rows}" role="img" aria-label="{escape(title)}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="#1E1B2E">{escape(title)}</text>']
    if not clean:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#64748B">no data</text></svg>')
        return "".join(out)
    all_x = [p[0] for pts in clean.values() for p in pts]
    all_y = [p[1] for pts in clean.values() for p in pts]
    xt, yt = nice_ticks(*_span(all_x)), nice_ticks(*_span(all_y))
    x0, x1 = min(xt[0], min(all_x)), max(xt[-1], max(all_x))
    y0, y1 = min(yt[0], min(all_y)), max(yt[-1], max(all_y))
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    h = height + 16 * legend_rows
    pw, ph = width - left - right, h - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    for t in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#EBF0F8"/>'
                   f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" fill="#475569">{tick_text(t)}</text>')
    for t in xt:
        out.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{top + ph}" stroke="#EBF0F8"/>'
                   f'<text x="{px(t):.1f}" y="{top + ph + 14}" text-anchor="middle" fill="#475569">{tick_text(t)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#CBD5E1"/>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 6}" text-anchor="middle" fill="#334155">{escape(x_label)}</text>')
    out.append(f'<text transform="translate(12,{top + ph / 2}) rotate(-90)" text-anchor="middle" '
               f'fill="#334155">{escape(y_label)}</text>')
    for i, (label, pts) in enumerate(clean.items()):
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{coords}">'
                   f'<title>{escape(label)}</title></polyline>')
        if len(pts) < 30:
            out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"/>' for x, y in pts]
        if legend_rows:
            lx, ly = left + (i % 3) * (pw / 3), 30 + 16 * (i // 3)
            out.append(f'<rect x="{lx:.1f}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
                       f'<text x="{lx + 14:.1f}" y="{ly + 1}" fill="#1E1B2E">{escape(label[:40])}</text>')
    out.append("</svg>")
    return "".join(out)
