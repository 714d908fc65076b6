"""What the app shows, computed without Streamlit (so it is testable on its own).

Runs-table rows, chart series, TensorBoard-style smoothing, plain-language health
warnings, "what healthy curves look like" notes, sample-grid diversity, ETA text, GIFs,
ZIPs and the synthetic-data-set export. ``gan_core`` never imports Streamlit; the pages
in ``pages/`` are thin layers over these functions.
"""
from __future__ import annotations

import base64
import functools
import io
import json
import math
import os
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from PIL import Image

from .importer import safe_folder_names
from .rundir import FINAL_STATES, RunDir, RunError

# ---------------------------------------------------------------------------- states

STATE_BADGES: dict[str, tuple[str, str]] = {
    # state: (symbol, colour). Plain symbols that every system font has (no emoji), and the
    # word beside them, so colour is never the only signal.
    "created": ("○", "gray"),
    "queued": ("○", "gray"),
    "running": ("●", "green"),
    "stopping": ("◐", "orange"),
    "stopped": ("■", "blue"),
    "finished": ("✓", "green"),
    "failed": ("✕", "red"),
    "crashed": ("✕", "red"),
    "diverged": ("▲", "red"),
    "cancelled": ("–", "gray"),
}
ACTIVE_STATES = ("created", "queued", "running", "stopping")
RESTORATION_MODELS = ("srgan", "inpaint-gan")


def state_badge(state: str) -> str:
    """"● running": a symbol and the word."""
    emoji, _ = STATE_BADGES.get(state, ("?", "gray"))
    return f"{emoji} {state}"


def state_colour(state: str) -> str:
    return STATE_BADGES.get(state, ("", "gray"))[1]


def run_state(run: RunDir) -> str:
    """The derived state from ``gan_core.jobs`` when present, else status.json's."""
    try:
        from .jobs import run_state as jobs_state
    except ImportError:
        jobs_state = None
    if jobs_state is not None:
        try:
            return str(jobs_state(run))
        except Exception:  # noqa: BLE001 - a half-written run must not break a table
            pass
    return str(run.read_status().get("state", "unknown"))


def is_active(state: str) -> bool:
    return state in ACTIVE_STATES


# ---------------------------------------------------------------------------- text


def eta_text(seconds: float | None) -> str:
    """Human remaining time: "about 3 min left", "under a minute left", "" when unknown."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 1:
        return "almost done"
    if seconds < 60:
        return "under a minute left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"about {hours} h {minutes:02d} min left"


def duration_text(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {(seconds % 3600) // 60:02d}m"


def age_text(timestamp: float | None, now: float | None = None) -> str:
    if not timestamp:
        return ""
    delta = max(0.0, (now or time.time()) - float(timestamp))
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


def default_run_name(data: str, model: str, when: float | None = None) -> str:
    """The CLI's default: ``<data>-<model>-<YYYYmmdd-HHMMSS>`` (made a valid name)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(data)).stem).strip("-.") or "run"
    return f"{stem[:30]}-{model}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(when))}"


# ---------------------------------------------------------------------------- progress


def progress_of(status: dict[str, Any], cfg_steps: int | None = None, cfg_minutes: float = 0.0) -> float:
    """0..1: steps done of the step target, or time spent of a minutes budget."""
    if status.get("state") == "finished":
        return 1.0
    if cfg_minutes and cfg_minutes > 0:
        elapsed = float(status.get("elapsed_s") or 0.0)
        return max(0.0, min(1.0, elapsed / (cfg_minutes * 60)))
    total = status.get("total_steps") or cfg_steps
    step = status.get("step") or 0
    if not total:
        return 0.0
    return max(0.0, min(1.0, float(step) / float(total)))


# ---------------------------------------------------------------------------- metrics


class MetricsReader:
    """Incremental reader of an append-only metrics.jsonl.

    Only the bytes appended since the last call are read (opened read-only, no lock), so
    a dashboard refreshing every second costs the trainer nothing. A file that shrank
    (metrics truncated on resume or rollback) is read again from the start.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.records: list[dict[str, Any]] = []
        self._identity: tuple[int, int] | None = None

    def read(self) -> list[dict[str, Any]]:
        try:
            st = os.stat(self.path)
        except OSError:
            self.offset, self.records, self._identity = 0, [], None
            return self.records
        identity = (st.st_ino, st.st_dev)
        if identity != self._identity or st.st_size < self.offset:
            self.offset, self.records, self._identity = 0, [], identity
        if st.st_size == self.offset:
            return self.records
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(st.st_size - self.offset)
        except OSError:
            return self.records
        end = data.rfind(b"\n")
        if end < 0:  # no complete line yet
            return self.records
        for raw in data[: end + 1].split(b"\n")[:-1]:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                self.records.append(record)
        self.offset += end + 1
        return self.records


def split_records(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training records, eval records): eval records carry ``"kind": "eval"``."""
    train, evals = [], []
    for r in records:
        (evals if r.get("kind") == "eval" else train).append(r)
    return train, evals


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


# Chart groups for Monitor: (title, [(key, label)], y-axis title)
CHARTS: list[tuple[str, list[tuple[str, str]], str]] = [
    ("Losses", [("loss_d", "loss D"), ("loss_g", "loss G")], "loss"),
    ("D(x) and D(G(z))", [("d_real", "D(x) real"), ("d_fake", "D(G(z)) fake")], "D's output as a probability"),
    ("D's accuracy", [("acc_real", "on real"), ("acc_fake", "on fake")], "share judged right"),
    ("Gradient norms", [("grad_norm_d", "‖∇D‖"), ("grad_norm_g", "‖∇G‖")], "L2 norm"),
    ("Speed", [("images_per_s", "images/s")], "images per second"),
]
# Shown only for runs that log it (--augment ada): the augmentation strength p over time.
ADA_CHART = ("ADA augmentation p", [("ada_p", "p")], "probability of each transform")


def charts_for(runs: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[tuple[str, str]], str]]:
    """Monitor's chart groups for these runs: the common ones, plus ADA's p when logged."""
    has_ada = any("ada_p" in r for records in runs.values() for r in records)
    return CHARTS + ([ADA_CHART] if has_ada else [])


EVAL_KEYS = [("fid", "FID (lower is better)"), ("kid_mean", "KID (lower is better)"),
             ("precision", "precision"), ("recall", "recall"), ("coverage", "coverage"),
             ("class_accuracy", "class accuracy")]
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


def d_output_axis(loss: str) -> tuple[str, float | None, str]:
    """How to read the D(x)/D(G(z)) chart for a loss: (y title, reference line, its label)."""
    if loss in ("minimax", "nonsaturating"):
        return "D's output as a probability", 0.5, "0.5: G fools D"
    if loss == "lsgan":
        return "D's mean score (target: real 1, fake 0)", 0.5, "0.5: undecided"
    return "D's mean raw score (real > 0 > fake)", 0.0, "0: undecided"


def point_count(runs: dict[str, list[dict[str, Any]]]) -> int:
    return sum(len(series(records, "loss_d")[0]) for records in runs.values())


# ---------------------------------------------------------------------------- health

@dataclass
class Health:
    level: str  # "error" | "warning" | "info"
    title: str
    text: str


HEALTHY_NOTES: dict[str, str] = {
    "minimax": (
        "**Healthy curves with the minimax (BCE) loss:** loss D hovers around 2·ln 2 ≈ 1.39 "
        "(D can't tell real from fake), loss G around ln 2 ≈ 0.69 or a bit above; D(x) and "
        "D(G(z)) drift toward 0.5 from opposite sides; accuracies wobble between 0.5 and 0.8. "
        "Noisy curves are normal — GAN losses don't fall steadily like a classifier's. "
        "Judge progress by the sample grids."
    ),
    "nonsaturating": (
        "**Healthy curves with the non-saturating loss:** loss D near 2·ln 2 ≈ 1.39, loss G "
        "around 0.7–2 and noisy; D(x) a bit above 0.5, D(G(z)) a bit below; accuracies "
        "between 0.5 and 0.8. Loss G climbing steadily while loss D falls toward 0 means D is winning."
    ),
    "hinge": (
        "**Healthy curves with the hinge loss:** loss D typically 1–2 (2 means D is at chance) "
        "and slowly falling; loss G noisy around 0–1. D(x) and D(G(z)) are raw scores: real "
        "above 0, fake below, the gap staying moderate. Loss D near 0 for long means D has won."
    ),
    "lsgan": (
        "**Healthy curves with the least-squares loss:** loss D around 0.2–0.5 (0.5 is chance "
        "with targets 0/1), loss G around 0.2–0.5; D(x) and D(G(z)) approach each other. "
        "Loss D near 0 means D separates real and fake perfectly."
    ),
    "wgan-gp": (
        "**Healthy curves with WGAN-GP:** the critic's loss is negative (it estimates minus "
        "the Wasserstein distance) and its magnitude slowly shrinks as G improves; loss G "
        "wanders freely and its level means little. Accuracy and D(x) are less meaningful "
        "for a critic; watch the distance and the samples."
    ),
}


def healthy_note(loss: str) -> str:
    return HEALTHY_NOTES.get(loss, HEALTHY_NOTES["minimax"])


def health_warnings(records: list[dict[str, Any]], loss: str = "minimax", *, window: int = 10,
                    diversity: "DiversityTrend | None" = None, state: str | None = None,
                    error: str | None = None) -> list[Health]:
    """Plain-language warnings from the training records (and the sample grids' diversity)."""
    out: list[Health] = []
    train, _ = split_records(records)
    if state == "diverged":
        out.append(Health("error", "Training diverged",
                          (error or "losses became NaN or infinite") +
                          " Resume won't help by itself: start a new run with a lower learning rate, "
                          "spectral norm in D or the hinge loss, or set on_diverge = rollback."))
    bad = [(r.get("step"), k) for r in train for k, v in r.items()
           if isinstance(v, float) and not math.isfinite(v)]
    if bad and state != "diverged":
        step, key = bad[0]
        out.append(Health("error", "Numbers went bad (NaN or infinity)",
                          f"{key} stopped being a finite number at step {step}. Training has diverged; "
                          "lower the learning rates or switch on spectral norm."))
    recent = [r for r in train if "acc_real" in r and "acc_fake" in r][-window:]
    if len(recent) >= window and loss != "wgan-gp":
        if all(r["acc_real"] >= 0.95 and r["acc_fake"] >= 0.95 for r in recent):
            out.append(Health("warning", "D is winning outright",
                              f"For the last {window} logs the discriminator told real from fake "
                              "more than 95% of the time, so the generator gets almost no useful signal. "
                              "Try DiffAugment, a lower lr_d, spectral norm, R1, or a smaller D (width)."))
        elif all(r["acc_real"] <= 0.2 and r["acc_fake"] <= 0.2 for r in recent):
            out.append(Health("warning", "D has stopped learning",
                              "The discriminator gets real and fake images wrong most of the time. "
                              "Raise lr_d or d_steps."))
    if diversity is not None and diversity.collapsed:
        out.append(Health("warning", "Samples are losing variety (mode collapse?)",
                          f"The latest sample grid (step {diversity.latest_step}) is only "
                          f"{diversity.ratio:.0%} as varied as the most varied grid so far: the generator "
                          "may be producing near-identical images. Try the hinge loss, spectral norm, "
                          "a conditional model, or resume from an earlier checkpoint."))
    return out


# ---------------------------------------------------------------------------- diversity


def grid_tiles(image: np.ndarray, tile: int, padding: int = 2) -> np.ndarray:
    """Cut a torchvision ``make_grid`` image (padding ``padding``) into its tiles [N, t, t, C]."""
    if image.ndim == 2:
        image = image[:, :, None]
    h, w = image.shape[:2]
    step = tile + padding
    rows, cols = (h - padding) // step, (w - padding) // step
    tiles = []
    for r in range(rows):
        for c in range(cols):
            y, x = padding + r * step, padding + c * step
            t = image[y:y + tile, x:x + tile]
            if t.shape[:2] == (tile, tile):
                tiles.append(t)
    return np.stack(tiles) if tiles else np.zeros((0, tile, tile, image.shape[2]), image.dtype)


def tile_diversity(tiles: np.ndarray) -> float:
    """Mean pairwise L1 distance between tiles, in [0, 1] for 8-bit pixels."""
    n = len(tiles)
    if n < 2:
        return 0.0
    flat = tiles.reshape(n, -1).astype(np.float32) / 255.0
    total, pairs = 0.0, 0
    for i in range(n - 1):  # n <= a few hundred: O(n^2) on small vectors is fine
        total += float(np.abs(flat[i + 1:] - flat[i]).mean(axis=1).sum())
        pairs += n - 1 - i
    return total / pairs


@functools.lru_cache(maxsize=512)
def _grid_diversity_cached(path: str, mtime_ns: int, size: int, tile: int) -> float:
    with Image.open(path) as im:
        array = np.asarray(im.convert("RGB"))
    return tile_diversity(grid_tiles(array, tile))


def grid_diversity(path: Path, tile: int) -> float | None:
    """Diversity of one sample grid PNG (cached by path, mtime and size)."""
    try:
        st = os.stat(path)
        return _grid_diversity_cached(str(path), st.st_mtime_ns, st.st_size, int(tile))
    except (OSError, ValueError):
        return None


@dataclass
class DiversityTrend:
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    threshold: float = 0.35

    @property
    def latest_step(self) -> int | None:
        return self.steps[-1] if self.steps else None

    @property
    def ratio(self) -> float:
        """Latest diversity over the peak of the grids before it (step 0 excluded: an
        untrained G's outputs are not a fair yardstick)."""
        earlier = [v for s, v in zip(self.steps[:-1], self.values[:-1]) if s > 0]
        if not earlier or not self.values:
            return 1.0
        peak = max(earlier)
        return self.values[-1] / peak if peak > 0 else 1.0

    @property
    def collapsed(self) -> bool:
        return len([s for s in self.steps if s > 0]) >= 3 and self.ratio < self.threshold


def diversity_trend(grids: list[tuple[int, Path]], tile: int, max_grids: int = 60) -> DiversityTrend:
    """Diversity of a run's sample grids through training (evenly thinned to ``max_grids``)."""
    if len(grids) > max_grids:
        keep = sorted({round(i * (len(grids) - 1) / (max_grids - 1)) for i in range(max_grids)})
        grids = [grids[i] for i in keep]
    trend = DiversityTrend()
    for step, path in grids:
        value = grid_diversity(path, tile)
        if value is not None:
            trend.steps.append(step)
            trend.values.append(value)
    return trend


# ---------------------------------------------------------------------------- runs table


def thumbnail_data_url(path: Path | None, width: int = 160, max_rows: int | None = None,
                       tile: int | None = None) -> str | None:
    """A small PNG data: URL of a sample grid (optionally only its first rows)."""
    if path is None:
        return None
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if max_rows and tile:
                im = im.crop((0, 0, im.width, min(im.height, 2 + max_rows * (tile + 2))))
            ratio = width / im.width
            im = im.resize((width, max(1, round(im.height * ratio))), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=True)
    except (OSError, ValueError):
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def run_summary(run: RunDir) -> dict[str, Any]:
    """One row of the runs table (also the facts Monitor's header shows)."""
    status = run.read_status()
    state = run_state(run)
    try:
        cfg = run.config()
    except RunError:
        cfg = None
    grids = run.sample_grids()
    latest = grids[-1] if grids else None
    row = {
        "name": run.name,
        "state": state,
        "badge": state_badge(state),
        "progress": progress_of({**status, "state": state}, cfg.steps if cfg else None, cfg.minutes if cfg else 0.0),
        "step": int(status.get("step") or 0),
        "total_steps": status.get("total_steps") or (cfg.steps if cfg and not cfg.minutes else None),
        "data": cfg.data if cfg else "?",
        "model": (cfg.model + (" · conditional" if cfg.conditional else "")) if cfg else "?",
        "loss": cfg.loss if cfg else "?",
        "resolution": cfg.resolution if cfg else None,
        "images_per_s": status.get("images_per_s"),
        "elapsed_s": status.get("elapsed_s"),
        "eta": eta_text(status.get("eta_s")) if is_active(state) else "",
        "created": status.get("created"),
        "error": status.get("error"),
        "latest_sample": latest[1] if latest else None,
        "latest_sample_step": latest[0] if latest else None,
        "checkpoints": len(run.checkpoints()),
    }
    return row


def runs_table_rows(runs: list[RunDir], thumbnails: bool = True) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        try:
            s = run_summary(run)
        except Exception as exc:  # noqa: BLE001 - one unreadable folder must not hide the rest
            rows.append({"Run": run.name, "State": state_badge("unknown"), "Progress": 0.0, "Step": "",
                         "Data set": "?", "Model": "?", "Latest sample": None, "Started": "",
                         "Note": f"unreadable: {exc}"})
            continue
        step_text = f"{s['step']:,}" + (f"/{s['total_steps']:,}" if s["total_steps"] else "")
        note = s["eta"] if s["eta"] else (s["error"] or "")
        rows.append({
            "Run": s["name"],
            "State": s["badge"],
            "Progress": s["progress"],
            "Step": step_text,
            "Data set": s["data"],
            "Model": f"{s['model'].replace('conditional', 'cond.')} · {s['loss']}",
            "Latest sample": thumbnail_data_url(s["latest_sample"], width=160, max_rows=2, tile=s["resolution"])
            if thumbnails and s["latest_sample"] is not None and s["resolution"] else None,
            "Started": age_text(s["created"]),
            "Note": (note[:120] + "…") if len(note) > 120 else note,
        })
    return rows


# ---------------------------------------------------------------------------- checkpoints


def checkpoint_choices(run: RunDir) -> list[tuple[str, str]]:
    """(label, value for ``load_generator``'s ``checkpoint``): latest first, best if marked."""
    found = run.checkpoints()
    if not found:
        return []
    out = [(f"latest (step {found[-1].step:,})", str(found[-1].step))]
    best = run.best_checkpoint()
    if best is not None:
        out.append((f"best (step {best.step:,})", "best"))
    for c in reversed(found):
        out.append((f"step {c.step:,}", str(c.step)))
    return out


# ---------------------------------------------------------------------------- files


def slerp(z0, z1, t: float):
    """Spherical interpolation between two latent batches (torch tensors), per row."""
    import torch

    a = z0 / z0.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b = z1 / z1.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    omega = torch.acos((a * b).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:
        return (1 - t) * z0 + t * z1
    return torch.sin((1 - t) * omega) / so * z0 + torch.sin(t * omega) / so * z1


def gif_bytes(frames: list[Image.Image], fps: float = 12, loop: bool = True, boomerang: bool = True) -> bytes:
    """An animated GIF of ``frames`` (played forward then back when ``boomerang``)."""
    if not frames:
        raise ValueError("no frames")
    seq = list(frames) + (list(frames[-2:0:-1]) if boomerang and len(frames) > 2 else [])
    seq = [f.convert("RGB") for f in seq]
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=max(20, int(1000 / fps)),
                loop=0 if loop else 1, disposal=2)
    return buf.getvalue()


def upscale(image: Image.Image, size: int) -> Image.Image:
    """Nearest-neighbour upscale for display of tiny samples (keeps pixels crisp)."""
    if image.width >= size:
        return image
    factor = max(1, size // image.width)
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()




def export_synthetic(loaded, name: str, per_class: int, seed: int = 0, truncation: float | None = None,
                     root: Path | None = None, chunk: int = 64,
                     progress: Callable[[int, int], None] | None = None) -> tuple[Path, int]:
    """Write a synthetic data set ``root/name/<class>/<seed>.png`` (flat for unconditional
    generators): ``per_class`` images per class, each PNG with provenance text chunks, plus an
    ``import_report.json`` so it lists as an imported set (trainable, and ready for a classifier).

    Built in a hidden temp folder and renamed into place. Returns (folder, images written).
    """
    import secrets
    import shutil

    from .importer import REPORT_FILE, DatasetError, ImportReport, data_root, validate_name
    from .sample import generate, png_bytes, provenance, to_pil

    validate_name(name)
    root = Path(root) if root is not None else data_root()
    final = root / name
    if final.exists():
        raise DatasetError(f"a data set named {name!r} already exists in {root}; choose another name")
    if not 1 <= per_class <= 100_000:
        raise ValueError("images per class must be from 1 to 100000")
    classes = list(loaded.classes) if loaded.conditional else []
    folders = safe_folder_names(classes) if classes else [""]
    jobs = [(ci if classes else None, folder) for ci, folder in enumerate(folders)]
    total, done = per_class * len(jobs), 0
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".export-{name}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        for class_index, folder in jobs:
            out = tmp / folder if folder else tmp
            out.mkdir(exist_ok=True)
            for start in range(0, per_class, chunk):
                seeds = list(range(seed + start, seed + min(per_class, start + chunk)))
                images = generate(loaded, seeds, class_index=class_index, truncation=truncation)
                for s, image in zip(seeds, images):
                    info = provenance(loaded, s, class_index, truncation=truncation or "none", dataset=name)
                    (out / f"{s:06d}.png").write_bytes(png_bytes(to_pil(image), info))
                done += len(seeds)
                if progress is not None:
                    progress(done, total)
        report = ImportReport(done, [], folders if classes else [], name)
        (tmp / REPORT_FILE).write_text(report.to_json(), encoding="utf-8")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, done


def folder_zip_bytes(folder: Path) -> bytes:
    files = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            files[str(Path(folder.name) / p.relative_to(folder))] = p.read_bytes()
    return zip_bytes(files)


def log_tail_text(run: RunDir, lines: int = 200) -> str:
    """The last lines of a run's log (through ``gan_core.jobs`` when present)."""
    try:
        from .jobs import log_tail
    except ImportError:
        log_tail = None
    if log_tail is not None:
        try:
            return log_tail(run.name, lines=lines)
        except Exception:  # noqa: BLE001 - fall back to reading the file ourselves
            pass
    try:
        with open(run.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def final_state(state: str) -> bool:
    return state in FINAL_STATES
