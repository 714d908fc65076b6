"""Compare: which run is best, what made the difference, and at what cost."""
from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from gan_core.experiments.compare import (METRIC_LABELS, NOT_SETTINGS, X_AXES, config_diff, grid_seconds, grid_steps,  # noqa: E402
                              grids_at, logged_keys, plot_metric, run_row, runs_matching, seed_groups)
from gan_core.experiments.report import build_report  # noqa: E402
from gan_core.runs.rundir import CheckpointError, RunError  # noqa: E402
from gan_core.inference.generators import generate, load_generator, to_pil  # noqa: E402
from gan_core.runtypes.registry import of_kind  # noqa: E402
from ui.media import upscale  # noqa: E402
from ui.status import duration_text  # noqa: E402
from ui.common import open_run, page_link, page_setup, runs_safe  # noqa: E402
from ui.compare_view import diff_rows, group_rows, plot_figure, table_rows  # noqa: E402

page_setup("Compare")
st.title("Compare runs")
st.caption("Which run is best, what made the difference, and what it cost. Quality numbers are only put side by "
           "side when they were measured in the same feature space.")

flash = st.session_state.pop("flash", None)
if flash:
    st.success(flash, icon=":material/rocket_launch:")

every = runs_matching(runs_safe())
if not every:
    st.info("**No runs to compare yet.** Train a few on **Train**, or queue a sweep there.", icon=":material/compare:")
    page_link("train", "Go to Train", icon=":material/model_training:")
    st.stop()

# ---- filter -------------------------------------------------------------------------------
wanted_tag = st.session_state.pop("compare_tag", None)
if wanted_tag:
    st.session_state["cmp_tag"] = [wanted_tag]
    st.session_state.pop("cmp_runs", None)


def options(values) -> list[str]:
    return sorted({str(v) for v in values if v not in (None, "")})


f1, f2, f3, f4 = st.columns(4)
data_f = f1.multiselect("Data set", options(d.config.get("data") for d in every), key="cmp_data")
model_f = f2.multiselect("Model", options(d.config.get("model") for d in every), key="cmp_model")
state_f = f3.multiselect("State", options(d.state for d in every), key="cmp_state")
tags = options(t for d in every for t in d.config.get("tags") or [])
st.session_state["cmp_tag"] = [t for t in st.session_state.get("cmp_tag", []) if t in tags]
tag_f = f4.multiselect("Tag", tags, key="cmp_tag", help="A sweep tags its runs with its name.")
shown = [d for d in every if (not data_f or str(d.config.get("data")) in data_f)
         and (not model_f or str(d.config.get("model")) in model_f) and (not state_f or d.state in state_f)
         and (not tag_f or set(tag_f) & set(d.config.get("tags") or []))]

st.dataframe(table_rows([run_row(d) for d in shown]), hide_index=True, key="cmp_table",
             column_config={"Best FID": st.column_config.NumberColumn(format="%.3f"),
                            "Final FID": st.column_config.NumberColumn(format="%.3f"),
                            "Final KID": st.column_config.NumberColumn(format="%.4f")})

names = [d.name for d in shown]
st.session_state["cmp_runs"] = [n for n in st.session_state.get("cmp_runs", names[:6]) if n in names]
selected = st.multiselect("Runs to compare", names, key="cmp_runs", help="The table above lists every run the filters let through.")
runs = [d for d in shown if d.name in selected]
if not runs:
    st.info("Pick runs to compare above.")
    st.stop()

# ---- what differs -------------------------------------------------------------------------
st.subheader("What differs")
diff = config_diff({d.name: d.config for d in runs}, ignore=NOT_SETTINGS)
if len(runs) < 2:
    st.caption("Pick two or more runs to see the settings that differ.")
elif diff:
    st.dataframe(diff_rows(diff), hide_index=True, key="cmp_diff")
else:
    st.caption("These runs share every setting.")
groups = seed_groups(runs)
if groups:
    st.markdown("**Seed groups** — runs that differ only in their seed: mean ± spread (sample standard deviation)")
    st.dataframe(group_rows(groups), hide_index=True, key="cmp_groups")

# ---- quality against cost -----------------------------------------------------------------
st.subheader("Quality against cost")
keys = logged_keys(runs)
if not keys:
    st.caption("Nothing logged yet.")
else:
    c1, c2 = st.columns([1, 2])
    key = c1.selectbox("Metric", keys, key="cmp_metric", format_func=lambda k: METRIC_LABELS.get(k, k))
    x = c2.radio("Against", ["elapsed_s", "images"], format_func=X_AXES.get, horizontal=True, key="cmp_x")
    plot = plot_metric(runs, key, x)
    if plot.lines:
        st.plotly_chart(plot_figure(plot), key="cmp_chart", config={"displaylogo": False})
    for name, reason in plot.left_out.items():
        st.caption(f":material/visibility_off: **{name}** is not on this chart: {reason}.")

# ---- samples side by side -----------------------------------------------------------------
st.subheader("Samples side by side")
steps = grid_steps(runs)
if steps:
    by = st.radio("Match by", ["step", "elapsed_s"], horizontal=True, key="cmp_match",
                  format_func={"step": "step", "elapsed_s": "training time"}.get,
                  help="The same step, or the same training time (which recipe looks better after a minute?).")
    if by == "step":
        stops = steps
    else:
        stops = sorted({math.ceil(t) for d in runs for t, _, _ in grid_seconds(d)}) or [0]
    if st.session_state.get(f"cmp_at_{by}") not in stops:  # new grids, other runs: start at the newest
        st.session_state[f"cmp_at_{by}"] = stops[-1]
    at = st.select_slider("Matched step" if by == "step" else "Matched training time", stops,
                          key=f"cmp_at_{by}", format_func=(lambda s: f"step {s:,}") if by == "step" else duration_text,
                          help="Each run's fixed-noise grid at this point (or its last one before it).")
    cols = st.columns(min(4, len(runs)))
    for i, (name, found) in enumerate(grids_at(runs, at, by).items()):
        if found is not None:
            cols[i % len(cols)].image(str(found[1]), caption=f"{name} · step {found[0]:,}", width="stretch")
    st.caption("Fixed-noise grids use each run's own noise (from its seed). For the very same noise in every run, "
               "pick a seed below.")


@st.cache_resource(max_entries=8, show_spinner="Loading generators …")
def generator(root: str, run: str, weights: str, mtime: float):
    return load_generator(run, weights, device="cpu", root=Path(root))


seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key="cmp_seed",
                           help="Every run makes the image of this seed (the same z) from its newest checkpoint."))
# Four cells a row whatever the count, each image fitted to its cell: a fixed 256 px spilled over the
# next cell's image with four runs at 1440 px (cells ~235 px wide), and stretched one run page-wide.
cols = st.columns(4)
for i, d in enumerate(runs):
    folder = open_run(d.name)
    ckpt = folder.latest_checkpoint() if folder else None
    col = cols[i % len(cols)]
    if ckpt is None or d.config.get("model") not in of_kind("image"):
        col.caption(f"{d.name}: no image-GAN checkpoint yet")
        continue
    try:
        loaded = generator(str(d.path.parent), d.name, str(ckpt.weights), ckpt.weights.stat().st_mtime)
    except (CheckpointError, RunError, OSError) as exc:
        col.caption(f"{d.name}: {exc}")
        continue
    image = to_pil(generate(loaded, [seed])[0])
    col.image(upscale(image, 256), caption=f"seed {seed} · {d.name} · step {loaded.step:,}", width="stretch")

# ---- hand it over -------------------------------------------------------------------------
st.divider()
st.download_button("Download report", data=lambda names=tuple(d.name for d in runs): build_report(list(names), skip_missing=True).encode("utf-8"),
                   file_name="gan-studio-report.html", mime="text/html", icon=":material/description:",
                   key="cmp_report", help="One HTML file (samples, curves, metrics, config, model card) that opens offline.")
