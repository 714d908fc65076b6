"""A one-file HTML report of one or more runs, for people who will never open the studio.

``python -m gan_core report RUN [RUN ...] --out report.html`` (also the "Download report"
buttons on Monitor and Compare). The file is self-contained: images are ``data:`` URIs (PNGs
carrying the same provenance text chunks as exported samples), the interpolation is a GIF
``data:`` URI, charts are inline SVG (``gan_core.experiments.svgchart``), styles inline; nothing points
outside the file, so it opens offline from disk or an e-mail attachment. A 32 px run's section
is about 100-200 kB; a report refuses more than MAX_RUNS runs to stay a few MB.
"""
from __future__ import annotations

import base64
import platform
import time
from html import escape
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gan_core import __version__ as studio_version
from gan_core.experiments.compare import (METRIC_LABELS, METRIC_MEANINGS, NOT_SETTINGS, QUALITY_KEYS, X_AXES, RunData, config_diff,
                      load_runs, plot_metric, run_row, seed_groups)
from gan_core.data.subsets import SubsetError, is_subset_spec, read_manifest
from gan_core.experiments.svgchart import line_chart
from gan_core.inference.animation import gif_bytes
from gan_core.inference.generators import (LoadedGenerator, generate, interpolate, load_generator, png_bytes,
                                           provenance, to_pil)
from gan_core.runs.readout import CHARTS, d_output_axis, duration_text
from gan_core.runs.rundir import CheckpointError, RunDir, RunError, atomic_write_bytes
from gan_core.runtypes.registry import grid_rows, of_kind

MAX_RUNS = 12
SHEET_SEEDS = 16
INTERP_FRAMES = 16
MAX_GRID_SIDE = 600  # px: a bigger fixed-noise grid is scaled down before embedding

DATASET_PROVENANCE = {
    "fashion-mnist": "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, Zalando Research): 70,000 28x28 greyscale "
                     "photos of clothing in 10 classes, MIT licence.",
    "mnist": "MNIST (LeCun, Cortes & Burges 1998): 70,000 28x28 handwritten digits.",
    "cifar10": "CIFAR-10 (Krizhevsky 2009): 60,000 32x32 colour photos in 10 classes.",
    "digits": "scikit-learn's handwritten digits (UCI ML repository, Alpaydin & Kaynak 1998): 1,797 8x8 images.",
    "shapes": "procedural shapes drawn by GAN Studio itself (no outside data).",
    "emoji": "1,870 colour emoji of Google's Noto Color Emoji font (SIL Open Font License 1.1; its images Apache 2.0), "
             "rendered on white by GAN Studio and labelled by their Unicode group (9 classes).",
}
INTENDED_USE = ("Demonstrating and comparing GAN training recipes; making synthetic examples of the training "
                "set's kind for teaching, testing pipelines and data-augmentation experiments.")
LIMITS = ("A small generator at low resolution: images are recognisable but not photographic, and it can only "
          "make what its training set shows (including that set's biases and gaps). Quality numbers are measured "
          "in the feature space named beside them and are comparable only with numbers in that same space, not with "
          "published Inception FIDs. Not for depicting real people or passing images off as real.")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1E1B2E;max-width:1180px;margin:2rem auto;padding:0 1rem;line-height:1.5}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #EEF0FF;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;font-size:.88rem;margin:.6rem 0}td,th{border:1px solid #E2E8F0;padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:#F8FAFC}.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#64748B;font-size:.88rem}
.pix{image-rendering:pixelated;image-rendering:crisp-edges}.sheet{display:flex;flex-wrap:wrap;gap:.5rem}
.sheet figure{margin:0;text-align:center}.sheet figcaption{font:.75rem ui-monospace,monospace;color:#475569}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.card{background:#F8FAFC;border:1px solid #E2E8F0;border-radius:8px;padding:.6rem 1rem}
.note{background:#FFF7ED;border-left:4px solid #F97316;padding:.4rem .8rem}pre{background:#F8FAFC;padding:.6rem;overflow:auto;font-size:.8rem}
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return escape(str(value))


# ---------------------------------------------------------------------------- images


def interpolation_gif(loaded: LoadedGenerator, seed_a: int = 0, seed_b: int = 1, frames: int = INTERP_FRAMES,
                      class_index: int | None = None) -> bytes:
    """A looping GIF from seed_a to seed_b, walked as Generate walks it (in W for stylegan2)."""
    return gif_bytes([to_pil(x) for x in interpolate(loaded, seed_a, seed_b, frames, class_index)], fps=10)


def _grid_uri(path: Path, run: RunData, step: int) -> str:
    """A fixed-noise grid re-encoded with provenance text (and scaled down if large)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.height > im.width * 1.2:  # a conditional run's tall grid (a column per class): its first rows
            im = im.crop((0, 0, im.width, im.width))
        if max(im.size) > MAX_GRID_SIDE:
            im.thumbnail((MAX_GRID_SIDE, MAX_GRID_SIDE), Image.Resampling.LANCZOS)
        info = {"synthetic": "true", "software": "GAN Studio", "run": run.name, "step": str(step),
                "content": ("fixed held-out images and their translations"
                            if grid_rows(str(run.config.get("model"))) else "fixed-noise sample grid")}
        return _data_uri(png_bytes(im, info), "image/png")


def _samples_html(run: RunData) -> str:
    parts = []
    if run.grids:
        step, path = run.grids[-1]
        try:
            uri = _grid_uri(path, run, step)
            rows = grid_rows(str(run.config.get("model")))  # a translation run's grid is not from noise
            what = (f"Fixed held-out images and their translations (rows: {rows})" if rows else
                    "The same fixed noise all run long")
            parts.append(f'<figure><img class="pix" src="{uri}" alt="{"fixed held-out" if rows else "fixed-noise"} '
                         f'grid of {escape(run.name)}" style="width:min(100%,480px)"><figcaption class="muted">{what}, '
                         f'at step {step:,} (the run\'s latest grid).</figcaption></figure>')
        except OSError:
            parts.append('<p class="muted">The latest sample grid could not be read.</p>')
    if run.config.get("model") not in of_kind("image"):
        parts.append(f'<p class="muted">Seed sheet and interpolation are for image GANs; this run is a '
                     f'{escape(str(run.config.get("model")))}.</p>')
        return "".join(parts)
    try:
        loaded = load_generator(run.name, root=run.path.parent)
    except (CheckpointError, RunError, ValueError) as exc:
        parts.append(f'<p class="muted">No seed sheet: {escape(str(exc))}</p>')
        return "".join(parts)
    seeds = list(range(SHEET_SEEDS))
    images = generate(loaded, seeds)
    labels = torch.arange(len(seeds)) % len(loaded.classes) if loaded.conditional else None
    size = max(64, 2 * loaded.config.resolution)
    cells = []
    for i, s in enumerate(seeds):
        c = int(labels[i]) if labels is not None else None
        uri = _data_uri(png_bytes(to_pil(images[i]), provenance(loaded, s, c, truncation="none")), "image/png")
        caption = f"seed {s}" + (f" · {escape(loaded.classes[c])}" if c is not None else "")
        cells.append(f'<figure><img class="pix" src="{uri}" width="{size}" height="{size}" alt="{caption}">'
                     f'<figcaption>{caption}</figcaption></figure>')
    parts.append(f'<h4>Seed sheet (step {loaded.step:,}, {loaded.weights} weights)</h4><p class="muted">Image <i>n</i> '
                 f'comes from seed <i>n</i>: <code>python -m gan_core sample --run {escape(run.name)} --seed n --n 1'
                 f'{" --class CLASS" if loaded.conditional else ""}</code> makes it again.</p><div class="sheet">{"".join(cells)}</div>')
    gif = interpolation_gif(loaded, 0, 1)
    parts.append(f'<h4>Interpolation</h4><figure><img class="pix" src="{_data_uri(gif, "image/gif")}" width="{size * 2}" '
                 f'height="{size * 2}" alt="interpolation from seed 0 to seed 1"><figcaption class="muted">seed 0 → seed 1, '
                 'spherical interpolation in z (a smooth walk means G learned a continuous space, not a lookup table)'
                 '</figcaption></figure>')
    return "".join(parts)


# ---------------------------------------------------------------------------- sections


def _curves_html(run: RunData) -> str:
    charts = []
    d_title, _, _ = d_output_axis(str(run.config.get("loss") or "minimax"))
    for title, keys, y_title in CHARTS[:2]:
        lines = {}
        for key, label in keys:
            plot = plot_metric([run], key, "step")
            if run.name in plot.lines:
                lines[label] = plot.lines[run.name]
        if lines:
            charts.append(line_chart(lines, title, "step", d_title if title.startswith("D(x)") else y_title))
    single = []
    for key in ("fid", "kid_mean", "precision", "recall", "coverage"):
        plot = plot_metric([run], key, "step")
        if run.name not in plot.lines:
            continue
        xs, ys = plot.lines[run.name]
        if len(xs) == 1:  # one evaluation is a number, not a curve
            single.append(f"{METRIC_LABELS[key]} {ys[0]:.4g}")
            continue
        charts.append(line_chart({METRIC_LABELS[key]: (xs, ys)}, f"{METRIC_LABELS[key]} · {plot.feature_space}", "step",
                                 METRIC_LABELS[key]))
    html = f'<div class="charts">{"".join(charts)}</div>' if charts else '<p class="muted">Nothing logged yet.</p>'
    if single:
        html += (f"<p class='muted'>One evaluation so far (step {int(xs[0]):,}, {escape(str(plot.feature_space))}): "
                 f"{', '.join(single)}.</p>")
    return html


def _metrics_table(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("run", "feature space", "", *(METRIC_LABELS[k] for k in QUALITY_KEYS), "at step"))
    body = []
    for row in rows:
        for which in ("best", "final"):
            cells = "".join(f'<td class="num">{_fmt(row[f"{which}_{k}"])}</td>' for k in QUALITY_KEYS)
            body.append(f"<tr><td>{escape(row['run'])}</td><td>{_fmt(row['feature_space'])}</td><td>"
                        f"{'best (by FID)' if which == 'best' else 'last evaluation'}</td>{cells}<td class='num'>{_fmt(row[f'{which}_step'])}</td></tr>")
    meanings = "".join(f"<li><b>{METRIC_LABELS[k]}</b>: {escape(METRIC_MEANINGS[k])}</li>" for k in QUALITY_KEYS)
    return (f"<table><tr>{head}</tr>{''.join(body)}</table><ul class='muted'>{meanings}</ul>"
            "<p class='muted'>Numbers from different feature spaces are different quantities: compare only within one.</p>")


def _cost_table(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("run", "state", "steps", "images seen", "training time", "wall-clock",
                                              "device", "device time", "images/s", "host"))
    body = "".join(
        f"<tr><td>{escape(r['run'])}</td><td>{escape(str(r['state']))}</td><td class='num'>{_fmt(r['step'])}</td>"
        f"<td class='num'>{_fmt(r['images_seen'])}</td><td class='num'>{duration_text(r['train_s'])}</td>"
        f"<td class='num'>{duration_text(r['wall_s'])}</td><td>{escape(r['device'])}</td>"
        f"<td class='num'>{duration_text(r['device_s'])}</td><td class='num'>{_fmt(r['images_per_s'], 3)}</td>"
        f"<td>{_fmt(r['host'])}</td></tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _config_html(runs: list[RunData]) -> str:
    parts = []
    if len(runs) > 1:
        diff = config_diff({r.name: r.config for r in runs}, ignore=NOT_SETTINGS)
        if diff:
            head = "".join(f"<th>{escape(r.name)}</th>" for r in runs)
            body = "".join(f"<tr><td>{escape(f)}</td>" + "".join(f"<td>{_fmt(v.get(r.name))}</td>" for r in runs) + "</tr>"
                           for f, v in diff.items())
            parts.append(f"<h3>Settings that differ</h3><table><tr><th>setting</th>{head}</tr>{body}</table>")
        else:
            parts.append("<p>All runs share every setting.</p>")
    for r in runs:
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in r.config.items())
        parts.append(f"<details><summary>Full config of {escape(r.name)}</summary><table>{rows}</table></details>")
    return "".join(parts)


def _data_source(data: str) -> str:
    """Where a run's images came from, as HTML: a built-in's citation, an augmentation lab's
    draw from one (its manifest names the set and the count), or the user's own images."""
    if data in DATASET_PROVENANCE:
        return escape(DATASET_PROVENANCE[data])
    if is_subset_spec(data):
        try:
            sub = read_manifest(data)
        except SubsetError:
            return "an augmentation lab's draw whose manifest is gone"
        return (f"an augmentation lab's draw of {len(sub.indices):,} training images ({sub.per_class} per class) "
                f"from {escape(sub.source)}: " + _data_source(sub.source))
    return (f"the user's own images ('{escape(data)}', imported into GAN Studio); "
            "their origin and licence are the owner's to state")


def _model_card(run: RunData, row: dict[str, Any]) -> str:
    data = str(run.config.get("data"))
    items = [
        ("Model", f"{_fmt(run.config.get('model'))} GAN, {_fmt(run.config.get('loss'))} loss, "
                  f"{_fmt(run.config.get('resolution'))} px, {_fmt(run.config.get('channels'))} channel(s)"
                  + (", class-conditional" if run.config.get("conditional") else "")),
        ("Data set", f"{escape(Path(data).name) if is_subset_spec(data) else escape(data)}: {_data_source(data)}"),
        ("Intended use", escape(INTENDED_USE)),
        ("Limits", escape(LIMITS)),
        ("Synthetic images", "Every image in this report is synthetic, made by this run's generator. PNGs exported by "
                             "GAN Studio carry the same statement in their metadata (text chunks <code>synthetic=true</code>, "
                             "<code>software=GAN Studio</code>, run, checkpoint step, seed), and so do the PNGs embedded here."),
        ("Trained on", f"{_fmt(row['host'])}, {escape(row['device'])}: {duration_text(row['train_s'])} of training "
                       f"({duration_text(row['wall_s'])} wall-clock), {_fmt(row['images_seen'])} images seen, "
                       f"{_fmt(row['step'])} steps, seed {_fmt(run.config.get('seed'))}"),
    ]
    return "<div class='card'><table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in items) + "</table></div>"


def _comparison_html(runs: list[RunData]) -> str:
    parts = []
    for key in ("fid", "coverage"):
        for x in ("elapsed_s", "images"):
            plot = plot_metric(runs, key, x)
            if plot.lines:
                parts.append(line_chart(plot.lines, f"{METRIC_LABELS[key]} · {plot.feature_space}", X_AXES[x],
                                        METRIC_LABELS[key]))
    html = f'<div class="charts">{"".join(parts)}</div>' if parts else ""
    left = plot_metric(runs, "fid", "elapsed_s").left_out
    if left:
        html += "<p class='muted'>Not on these axes: " + "; ".join(f"{escape(n)} ({escape(why)})" for n, why in left.items()) + "</p>"
    groups = seed_groups(runs)
    if groups:
        rows = "".join(f"<tr><td>{escape(', '.join(g.runs))}</td><td>{escape(str(g.setting) if g.setting else '')}</td><td>"
                       + "<br>".join(f"{m}: {mean:.4g} ± {sd:.2g} (n={n})" for m, (mean, sd, n) in g.stats.items())
                       + "</td></tr>" for g in groups)
        html += ("<h3>Seed groups (mean ± spread)</h3><table><tr><th>runs</th><th>setting</th><th>numbers</th></tr>"
                 f"{rows}</table><p class='muted'>Spread is the sample standard deviation over seeds.</p>")
    return html


# ---------------------------------------------------------------------------- the file


def _still_there(names: list[str], root: Path | None) -> tuple[list[str], list[str]]:
    """(runs that exist, runs whose folder is gone)."""
    there, gone = [], []
    for name in names:
        try:
            RunDir.open(name, root)
        except RunError:
            gone.append(name)
        else:
            there.append(name)
    return there, gone


def build_report(names: list[str], root: Path | None = None, title: str | None = None, skip_missing: bool = False) -> str:
    """The report's HTML for runs ``names`` (in ``root``, default $GAN_CHECKPOINTS).

    ``skip_missing``: runs deleted since they were picked are named in a note instead of raising,
    for the app's download buttons, which build the file at click time where an exception
    reaches no one (a deleted run made Compare's "Download report" do nothing at all)."""
    if not names:
        raise RunError("name at least one run")
    if len(names) > MAX_RUNS:
        raise RunError(f"a report holds at most {MAX_RUNS} runs (to stay a few MB); got {len(names)}")
    gone: list[str] = []
    if skip_missing:
        names, gone = _still_there(list(names), root)
    note = (f"<p class='note'>Not in this report: {escape(', '.join(gone))} (the run folder was deleted before "
            "the report was made).</p>") if gone else ""
    if not names:
        return _page(title or "Report", [f"<h1>{escape(title or 'Report')}</h1>", note])
    runs = load_runs(names, root)
    rows = [run_row(r) for r in runs]
    title = title or ("Report: " + ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else ""))
    made = time.strftime("%Y-%m-%d %H:%M %Z")
    body = [f"<h1>{escape(title)}</h1><p class='muted'>Made by GAN Studio {escape(studio_version)} on {made} "
            f"(Python {platform.python_version()}, PyTorch {torch.__version__}). One file, no network needed.</p>",
            "<p class='note'>Every image in this report is synthetic: generated by a GAN, not photographed.</p>", note,
            "<h2>Quality</h2>", _metrics_table(rows), "<h2>Cost</h2>", _cost_table(rows)]
    if len(runs) > 1:
        body += ["<h2>Quality against cost</h2>", _comparison_html(runs)]
    body += ["<h2>Settings</h2>", _config_html(runs)]
    for run, row in zip(runs, rows):
        body += [f"<h2 id='run-{escape(run.name)}'>{escape(run.name)}</h2>", "<h3>Model card</h3>", _model_card(run, row),
                 "<h3>Samples</h3>", _samples_html(run), "<h3>Curves</h3>", _curves_html(run)]
    return _page(title, body)


def _page(title: str, body: list[str]) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>")


def write_report(names: list[str], out: Path, root: Path | None = None, title: str | None = None) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, build_report(names, root, title).encode("utf-8"))
    return out
