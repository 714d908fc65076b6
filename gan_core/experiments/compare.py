"""Several runs side by side: what differs between them, how good each got, at what cost.

Reads run folders only (config.yaml, status.json, metrics.jsonl, evals.jsonl, samples/), so
it works on finished, running and copied-in runs alike. Used by the Compare page, the HTML
report and ``python -m gan_core compare``.

Two rules keep comparisons honest:
- a metric is only put on one axis for runs scored in the same feature space (FID in the
  offline classifier's space and FID in Inception's are different numbers); the others are
  listed with the reason;
- runs whose settings differ only in ``seed`` (and ``tags``) form a seed group, summarised
  as mean and spread, so one lucky seed does not crown a recipe.
"""
from __future__ import annotations

import bisect
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from gan_core.config.train_config import ConfigError, read_config_values
from gan_core.jobs.manager import run_state as derived_state
from gan_core.runs.rundir import RunDir, RunError, iter_metrics, list_runs

QUALITY_KEYS = ("fid", "kid_mean", "precision", "recall", "coverage")
LOWER_IS_BETTER = {"fid", "kid_mean"}
# One line each: what the number says (the report and the Compare page show these).
METRIC_MEANINGS = {
    "fid": "Fréchet distance between real and generated feature statistics: overall realism and variety (lower is better).",
    "kid_mean": "Kernel (MMD²) distance between real and generated features; unbiased, fairer on small samples (lower is better).",
    "precision": "Share of generated images that fall on the real images' manifold: fidelity (higher is better).",
    "recall": "Share of real images that fall on the generated images' manifold: variety (higher is better).",
    "coverage": "Share of real images with a generated image close by; harder to inflate than recall (higher is better).",
    "class_accuracy": "Share of samples the offline classifier puts in the class that was asked for (conditional runs).",
}
METRIC_LABELS = {"fid": "FID", "kid_mean": "KID", "precision": "precision", "recall": "recall",
                 "coverage": "coverage", "class_accuracy": "class accuracy"}
X_AXES = {"elapsed_s": "training time (s)", "images": "images seen", "step": "step"}
NOT_SETTINGS = ("tags",)  # fields that label a run rather than change it
SEED_FIELDS = ("seed",)


@dataclass
class RunData:
    """Everything a comparison reads from one run folder."""

    name: str
    path: Path
    state: str
    config: dict[str, Any]
    status: dict[str, Any]
    train: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    grids: list[tuple[int, Path]]


def run_state(run: RunDir) -> str:
    """The derived state (``gan_core.jobs``), else status.json's: a half-written run still compares."""
    try:
        return str(derived_state(run))
    except Exception:  # noqa: BLE001 - one odd run must not break the table
        return str(run.read_status().get("state", "unknown"))


def load_run(run: RunDir | str, root: Path | None = None) -> RunData:
    """Read one run (by folder or name). A config that no longer validates is still shown."""
    if not isinstance(run, RunDir):
        run = RunDir.open(run, root)
    try:
        config = run.config().to_dict()
    except RunError:
        try:
            config = read_config_values(run.config_path)
        except ConfigError:
            config = {}
    records = list(iter_metrics(run.metrics_path))
    train = [r for r in records if r.get("kind") != "eval"]
    evals = [r for r in records if r.get("kind") == "eval"]
    evals += [r for r in iter_metrics(run.path / "evals.jsonl") if r.get("kind") == "eval"]  # `gan_core eval`
    return RunData(run.name, run.path, run_state(run), config, run.read_status(), train, evals, run.sample_grids())


def load_runs(names: Iterable[str], root: Path | None = None) -> list[RunData]:
    return [load_run(name, root) for name in names]


# ---------------------------------------------------------------------------- settings


def config_diff(configs: Mapping[str, Mapping[str, Any]], ignore: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """``{field: {run: value}}`` for the fields whose values are not all equal (a field a run
    lacks counts as None). Field order follows the first config."""
    ignore = set(ignore)
    fields: list[str] = []
    for cfg in configs.values():
        fields += [k for k in cfg if k not in fields and k not in ignore]
    out = {}
    for f in fields:
        values = {name: cfg.get(f) for name, cfg in configs.items()}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            out[f] = values
    return out


def setting_key(config: Mapping[str, Any]) -> str:
    """Identity of a recipe: the config without seed and labels (runs sharing it form a seed group)."""
    return json.dumps({k: v for k, v in config.items() if k not in SEED_FIELDS + NOT_SETTINGS}, sort_keys=True, default=str)


# ---------------------------------------------------------------------------- numbers


def feature_space(run: RunData) -> str | None:
    """The feature space of the run's newest evaluation (its best/final numbers are in it)."""
    return run.evals[-1].get("feature_space") if run.evals else None


def run_row(run: RunData) -> dict[str, Any]:
    """One row of the comparison: quality (best by FID and final), cost, and where it ran."""
    space = feature_space(run)
    evals = [r for r in run.evals if r.get("feature_space") == space and _num(r.get("fid"))]
    best = min(evals, key=lambda r: r["fid"]) if evals else {}
    final = evals[-1] if evals else {}
    status, cfg = run.status, run.config
    train_s = _num(status.get("elapsed_s")) or (_num(run.train[-1].get("elapsed_s")) if run.train else None)
    images = status.get("images_seen") or (run.train[-1].get("images") if run.train else None)
    started = status.get("launched") or status.get("started") or status.get("created")
    ended = status.get("ended") if status.get("state") in ("finished", "stopped", "failed", "diverged", "crashed") else None
    wall_s = (float(ended) - float(started)) if ended and started else None
    world = int(status.get("world_size") or 1)
    row: dict[str, Any] = {
        "run": run.name, "state": run.state, "data": cfg.get("data"), "model": cfg.get("model"),
        "loss": cfg.get("loss"), "seed": cfg.get("seed"), "tags": list(cfg.get("tags") or []),
        "feature_space": space, "best_step": best.get("step"), "final_step": final.get("step"),
        "step": status.get("step") or (run.train[-1].get("step") if run.train else 0),
        "images_seen": images, "train_s": train_s, "wall_s": wall_s,
        "device": f"{status.get('device') or cfg.get('device') or '?'}" + (f" x{world}" if world > 1 else ""),
        "device_s": train_s * world if train_s else None, "host": status.get("host"),
        "images_per_s": (images / train_s) if images and train_s else None,
    }
    for key in QUALITY_KEYS:
        row[f"best_{key}"] = best.get(key)
        row[f"final_{key}"] = final.get(key)
    return row


def _num(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def metric_points(run: RunData, key: str, x: str = "elapsed_s") -> tuple[list[float], list[float]]:
    """A logged metric against ``x`` ("elapsed_s", "images" or "step"). Eval records carry
    only their step; their time and images are read off the training records around it."""
    if x not in X_AXES:
        raise ValueError(f"x must be one of {', '.join(X_AXES)}; got {x!r}")
    source = run.evals if any(key in r for r in run.evals) else run.train
    steps_x = [(r["step"], r[x]) for r in run.train if _num(r.get("step")) is not None and _num(r.get(x)) is not None]
    steps, xs_known = [s for s, _ in steps_x], [v for _, v in steps_x]
    xs, ys = [], []
    for r in source:
        y, step = _num(r.get(key)), _num(r.get("step"))
        if y is None or step is None:
            continue
        if x == "step":
            xv = step
        elif _num(r.get(x)) is not None:
            xv = float(r[x])
        else:
            xv = _interpolate(steps, xs_known, step)
        if xv is not None:
            xs.append(xv)
            ys.append(y)
    return xs, ys


def _interpolate(xs: list[float], ys: list[float], at: float) -> float | None:
    if not xs:
        return None
    i = bisect.bisect_left(xs, at)
    if i < len(xs) and xs[i] == at:
        return float(ys[i])
    if i == 0:
        return float(ys[0]) * at / xs[0] if xs[0] else float(ys[0])
    if i == len(xs):
        return float(ys[-1])
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(y0 + (y1 - y0) * (at - x0) / (x1 - x0))


@dataclass
class Plot:
    """What goes on one metric axis, and what was left off and why."""

    key: str
    x: str
    feature_space: str | None
    lines: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)


def plot_metric(runs: list[RunData], key: str, x: str = "elapsed_s") -> Plot:
    """One line per run. Eval metrics: only runs in one feature space (the one most runs were
    scored in; ties go to the first run's) share the axis."""
    is_eval = key in METRIC_MEANINGS or any(key in r for run in runs for r in run.evals)
    spaces = {run.name: feature_space(run) for run in runs} if is_eval else {}
    counts: dict[str, int] = {}
    for space in spaces.values():
        if space:
            counts[space] = counts.get(space, 0) + 1
    space = max(counts, key=lambda s: (counts[s], -list(spaces.values()).index(s))) if counts else None
    plot = Plot(key, x, space)
    for run in runs:
        if is_eval and spaces.get(run.name) != space:
            plot.left_out[run.name] = (f"scored in feature space {spaces[run.name]}, not {space}: its numbers are not comparable"
                                       if spaces.get(run.name) else "no evaluation yet (eval_every is 0, or none has run)")
            continue
        run_for_space = run if not is_eval else RunData(**{**run.__dict__, "evals": [
            r for r in run.evals if r.get("feature_space") == space]})
        xs, ys = metric_points(run_for_space, key, x)
        if not xs:
            plot.left_out[run.name] = f"{key} was not logged"
            continue
        plot.lines[run.name] = (xs, ys)
    return plot


def logged_keys(runs: list[RunData]) -> list[str]:
    """Metrics any of the runs logged: eval metrics first, then training ones."""
    ev = [k for k in METRIC_MEANINGS if any(_num(r.get(k)) is not None for run in runs for r in run.evals)]
    skip = {"step", "images", "elapsed_s", "time"}
    tr: list[str] = []
    for run in runs:
        for r in run.train[:3]:
            tr += [k for k, v in r.items() if k not in skip and k not in tr and _num(v) is not None]
    return ev + tr


# ---------------------------------------------------------------------------- seed groups


@dataclass
class SeedGroup:
    runs: list[str]
    setting: dict[str, Any]  # the fields that set this group apart from the other groups
    stats: dict[str, tuple[float, float, int]]  # metric -> (mean, spread (sample std), runs with a value)


def seed_groups(runs: list[RunData], metrics: Iterable[str] = ("final_fid", "best_fid", "final_precision",
                                                                 "final_recall", "final_coverage", "images_per_s")
                ) -> list[SeedGroup]:
    """Runs that differ only in seed, grouped (only groups of two or more), with mean and spread."""
    by_key: dict[str, list[RunData]] = {}
    for run in runs:
        by_key.setdefault(setting_key(run.config), []).append(run)
    reps = {key: members[0].config for key, members in by_key.items()}
    diff = config_diff(reps, ignore=SEED_FIELDS + NOT_SETTINGS)
    rows = {run.name: run_row(run) for run in runs}
    groups = []
    for key, members in by_key.items():
        if len(members) < 2:
            continue
        stats = {}
        spaces = {rows[m.name]["feature_space"] for m in members}
        for metric in metrics:
            values = [rows[m.name][metric] for m in members if _num(rows[m.name].get(metric)) is not None]
            if values and (len(spaces) == 1 or metric == "images_per_s"):
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                stats[metric] = (statistics.fmean(values), spread, len(values))
        groups.append(SeedGroup([m.name for m in members], {f: v[key] for f, v in diff.items()}, stats))
    return groups


# ---------------------------------------------------------------------------- samples


def grid_steps(runs: list[RunData]) -> list[int]:
    """Every step at which some run wrote a fixed-noise grid (the slider's stops)."""
    return sorted({step for run in runs for step, _ in run.grids})


def grid_at(run: RunData, step: int) -> tuple[int, Path] | None:
    """The run's grid at ``step``, else its last one before it, else its first."""
    if not run.grids:
        return None
    before = [g for g in run.grids if g[0] <= step]
    return before[-1] if before else run.grids[0]


def grid_seconds(run: RunData) -> list[tuple[float, int, Path]]:
    """(training seconds, step, path) of each grid, its time read off the training records."""
    known = [(r["step"], r["elapsed_s"]) for r in run.train if _num(r.get("step")) is not None and _num(r.get("elapsed_s")) is not None]
    steps, secs = [s for s, _ in known], [t for _, t in known]
    out = []
    for step, path in run.grids:
        t = 0.0 if step == 0 else _interpolate(steps, secs, step)
        if t is not None:
            out.append((t, step, path))
    return out


def grids_at(runs: list[RunData], at: float, by: str = "step") -> dict[str, tuple[int, Path] | None]:
    """Each run's grid at a matched step, or (``by="elapsed_s"``) at a matched training time:
    the last one at or before it, else the run's first."""
    if by == "step":
        return {run.name: grid_at(run, int(at)) for run in runs}
    out: dict[str, tuple[int, Path] | None] = {}
    for run in runs:
        timed = grid_seconds(run)
        before = [(step, path) for t, step, path in timed if t <= at]
        out[run.name] = before[-1] if before else ((timed[0][1], timed[0][2]) if timed else None)
    return out


def runs_matching(runs: list[RunDir] | None = None, *, data: Iterable[str] = (), model: Iterable[str] = (),
                  state: Iterable[str] = (), tag: Iterable[str] = ()) -> list[RunData]:
    """Every run (newest first) passing the filters (an empty filter passes everything)."""
    data, model, state, tag = set(data), set(model), set(state), set(tag)
    out = []
    for run in runs if runs is not None else list_runs():
        try:
            d = load_run(run)
        except RunError:
            continue
        c = d.config
        if ((not data or c.get("data") in data) and (not model or c.get("model") in model)
                and (not state or d.state in state) and (not tag or tag & set(c.get("tags") or []))):
            out.append(d)
    return out
