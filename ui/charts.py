"""Monitor's charts: series from metrics records, TensorBoard-style smoothing, Plotly figures."""
from __future__ import annotations

import math
from typing import Any

from gan_core.runs.readout import CHARTS, d_output_axis  # noqa: F401 - Monitor reads them from here
from gan_core.runs.health import DiversityTrend

# Shown only for runs that log it (--augment ada): the augmentation strength p over time.
ADA_CHART = ("ADA augmentation p", [("ada_p", "p")], "probability of each transform")
# Shown only for runs that log it (--lr-decay): G's learning rate (D's falls in proportion).
LR_CHART = ("Learning rate", [("lr_g", "generator")], "Adam learning rate")
# Shown only for translation runs: their own terms (pix2pix: L1; CycleGAN: cycle and identity) beside G's
# adversarial ones.
TRANSLATION_CHART = ("Translation terms", [("g_adv", "adversarial (G)"), ("l1", "L1 to target"),
                                           ("g_adv_ab", "adversarial A→B"), ("g_adv_ba", "adversarial B→A"),
                                           ("cycle_a", "cycle A→B→A"), ("cycle_b", "cycle B→A→B"),
                                           ("identity_a", "identity A"), ("identity_b", "identity B")], "loss")


def charts_for(runs: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[tuple[str, str]], str]]:
    """Monitor's chart groups for these runs: the common ones, plus ADA's p, a decaying learning
    rate and a translation run's own terms when logged."""
    logged = {k for records in runs.values() for r in records for k in r}
    extra = [chart for chart in (ADA_CHART, LR_CHART, TRANSLATION_CHART) if any(k in logged for k, _ in chart[1])]
    return CHARTS + extra


def series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """x = step, y = value, for records holding ``key`` (non-numbers skipped)."""
    xs, ys = [], []
    for r in records:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and "step" in r:
            xs.append(int(r["step"]))
            ys.append(float(v))
    return xs, ys


def ema_smooth(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: debiased exponential moving average; NaN/Inf pass through."""
    weight = min(max(float(weight), 0.0), 0.999)
    if weight == 0:
        return list(values)
    out, last, n = [], 0.0, 0
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight ** n))
    return out


EVAL_KEYS = [("fid", "FID (lower is better)"), ("kid_mean", "KID (lower is better)"),
             ("precision", "precision"), ("recall", "recall"), ("coverage", "coverage"),
             ("class_accuracy", "class accuracy")]
# Shares in [0, 1]: their charts keep that axis, so one point is not drawn on a -1..1 scale.
BOUNDED_KEYS = {"precision", "recall", "coverage", "class_accuracy", "acc_real", "acc_fake"}
PALETTE = ["#4F46E5", "#F97316", "#10B981", "#E11D48", "#0EA5E9", "#A855F7", "#EAB308", "#64748B"]


# A light look for every chart: plotly_white's colours without its template, which would
# ship ~10 kB of style with every figure on every refresh (the browser parses all of it).
CHART_LAYOUT = dict(
    paper_bgcolor="white", plot_bgcolor="white", margin=dict(l=10, r=10, t=40, b=10),
    font=dict(family="Inter, sans-serif", color="#2a3f5f"), hovermode="x unified",
    xaxis=dict(title=dict(text="step"), gridcolor="#EBF0F8", zerolinecolor="#EBF0F8", linecolor="#EBF0F8"),
    yaxis=dict(gridcolor="#EBF0F8", zerolinecolor="#EBF0F8", linecolor="#EBF0F8"),
    legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1, font=dict(size=11)),
)
MAX_CHART_POINTS = 200  # per line: beyond this a chart only gets slower, not more readable


def thin(xs: list, ys: list, limit: int = MAX_CHART_POINTS) -> tuple[list, list]:
    """At most ``limit`` points, evenly spread, always keeping the newest one."""
    if len(xs) <= limit:
        return xs, ys
    stride = math.ceil(len(xs) / limit)
    keep = list(range(len(xs) - 1, -1, -stride))[::-1]
    return [xs[i] for i in keep], [ys[i] for i in keep]


def chart_figure(title: str, keys: list[tuple[str, str]], runs: dict[str, list[dict[str, Any]]],
                 smoothing: float = 0.0, y_title: str = "", reference: float | None = None,
                 height: int = 300, reference_text: str = "0.5: G fools D"):
    """A Plotly figure: one line per (run, key); raw values faint behind smoothed ones.

    Lines are smoothed over every point, then thinned to MAX_CHART_POINTS, so a long run
    costs the page no more than a short one.
    """
    import plotly.graph_objects as go

    traces = []
    multi = len(runs) > 1
    colour_index = 0
    for run_name, records in runs.items():
        for key, label in keys:
            xs, ys = series(records, key)
            if not xs:
                continue
            colour = PALETTE[colour_index % len(PALETTE)]
            colour_index += 1
            name = f"{run_name} · {label}" if multi else label
            if smoothing > 0:
                raw_x, raw_y = thin(xs, ys)
                traces.append(dict(type="scatter", x=raw_x, y=raw_y, mode="lines", line=dict(color=colour, width=1),
                                   opacity=0.25, showlegend=False, hoverinfo="skip", name=name + " (raw)"))
                ys = ema_smooth(ys, smoothing)
            xs, ys = thin(xs, ys)
            traces.append(dict(type="scatter", x=xs, y=ys, mode="lines+markers" if len(xs) < 40 else "lines",
                               line=dict(color=colour, width=2), marker=dict(size=4), name=name))
    layout = dict(CHART_LAYOUT, title=dict(text=title, font=dict(size=15)), height=height,
                  yaxis=dict(CHART_LAYOUT["yaxis"], title=dict(text=y_title)))
    if keys and all(key in BOUNDED_KEYS for key, _ in keys):
        layout["yaxis"]["range"] = [-0.03, 1.03]
    steps = sorted({x for t in traces for x in t["x"]})
    if len(steps) == 1:  # Plotly pads one point by +-0.5: a step axis reading "1,999.5"
        only = steps[0]
        layout["xaxis"] = dict(CHART_LAYOUT["xaxis"], tickmode="array", tickvals=[only], ticktext=[f"{only:,}"],
                               range=[only - max(1, only * 0.05), only + max(1, only * 0.05)])
    if reference is not None:
        layout["shapes"] = [dict(type="line", xref="paper", x0=0, x1=1, y0=reference, y1=reference,
                                 line=dict(color="#94A3B8", dash="dash", width=1))]
        layout["annotations"] = [dict(xref="paper", x=1, y=reference, text=reference_text, showarrow=False,
                                      xanchor="right", yanchor="top", font=dict(size=11, color="#64748B"))]
    return go.Figure(dict(data=traces, layout=layout))


def variety_figure(trend: "DiversityTrend"):
    """The sample-variety trend as a small Plotly line."""
    return chart_figure("Sample variety (mean pairwise distance of the grid)", [("variety", "variety")],
                        {"grid": [{"step": s, "variety": v} for s, v in zip(trend.steps, trend.values)]},
                        y_title="distance", height=260)


def point_count(runs: dict[str, list[dict[str, Any]]]) -> int:
    return sum(len(series(records, "loss_d")[0]) for records in runs.values())
