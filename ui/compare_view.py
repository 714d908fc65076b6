"""What the Compare page draws, built from ``gan_core.experiments.compare``'s numbers (no Streamlit here)."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from gan_core.experiments.compare import METRIC_LABELS, X_AXES, Plot, SeedGroup
from gan_core.runs.readout import duration_text
from ui.charts import CHART_LAYOUT, PALETTE, thin


def plot_figure(plot: Plot, height: int = 360) -> go.Figure:
    """One line per run of a ``Plot`` (its feature space in the title)."""
    label = METRIC_LABELS.get(plot.key, plot.key)
    traces = []
    for i, (name, (xs, ys)) in enumerate(plot.lines.items()):
        xs, ys = thin(xs, ys)
        traces.append(dict(type="scatter", x=xs, y=ys, name=name, mode="lines+markers" if len(xs) < 40 else "lines",
                           line=dict(color=PALETTE[i % len(PALETTE)], width=2), marker=dict(size=5)))
    title = f"{label} against {X_AXES[plot.x]}" + (f" · {plot.feature_space}" if plot.feature_space else "")
    layout = dict(CHART_LAYOUT, title=dict(text=title, font=dict(size=15)), height=height, hovermode="closest",
                  xaxis=dict(CHART_LAYOUT["xaxis"], title=dict(text=X_AXES[plot.x])),
                  yaxis=dict(CHART_LAYOUT["yaxis"], title=dict(text=label)))
    return go.Figure(dict(data=traces, layout=layout))


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``run_row`` dicts as the columns people read (best/final quality, then cost)."""
    out = []
    for r in rows:
        out.append({
            "Run": r["run"], "State": r["state"], "Data set": r["data"], "Model": f"{r['model']} · {r['loss']}",
            "Tags": ", ".join(r["tags"]), "Seed": r["seed"], "Feature space": r["feature_space"] or "–",
            "Best FID": r["best_fid"], "at step": r["best_step"], "Final FID": r["final_fid"],
            "Final KID": r["final_kid_mean"], "Precision": r["final_precision"], "Recall": r["final_recall"],
            "Coverage": r["final_coverage"], "Images seen": r["images_seen"], "Training time": duration_text(r["train_s"]),
            "Wall-clock": duration_text(r["wall_s"]), "Device": r["device"], "Device time": duration_text(r["device_s"]),
            "Images/s": round(r["images_per_s"], 1) if r["images_per_s"] else None,
        })
    return out


def diff_rows(diff: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"Setting": field, **{run: str(value) for run, value in values.items()}} for field, values in diff.items()]


def group_rows(groups: list[SeedGroup]) -> list[dict[str, Any]]:
    out = []
    for g in groups:
        row: dict[str, Any] = {"Runs": ", ".join(g.runs), "Setting": ", ".join(f"{k}={v}" for k, v in g.setting.items()) or "–"}
        for metric, (mean, spread, n) in g.stats.items():
            row[metric.replace("_", " ")] = f"{mean:.4g} ± {spread:.2g} (n={n})"
        out.append(row)
    return out
