"""Monitor: live curves, sample grids through training, health checks and run controls."""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402
from PIL import Image  # noqa: E402

from gan_core.rundir import RunDir, RunError  # noqa: E402
from gan_core.views import state_colour as badge_colour  # noqa: E402
from gan_core.views import (CHARTS, EVAL_KEYS, MetricsReader, chart_figure, d_output_axis, diversity_trend,  # noqa: E402
                            duration_text, eta_text, health_warnings, healthy_note, is_active,
                            log_tail_text, point_count, run_summary, split_records)
from ui.common import env_refresh_s, go, jobs, open_run, page_setup, runs_safe  # noqa: E402

page_setup("Monitor")
st.title("Monitor")

flash = st.session_state.pop("flash", None)
if flash:
    st.success(flash, icon=":material/rocket_launch:")

runs = runs_safe()
if not runs:
    st.info("**No runs to monitor yet.** Start one with **Quick start** on Home or from the **Train** page.",
            icon=":material/monitoring:")
    st.stop()

names = [r.name for r in runs]
summaries = {r.name: run_summary(r) for r in runs}
wanted = [n for n in st.session_state.pop("monitor_select", []) if n in names]
if wanted:
    st.session_state["monitor_runs"] = wanted
if not [n for n in st.session_state.get("monitor_runs", []) if n in names]:
    active = [n for n in names if is_active(summaries[n]["state"])]
    st.session_state["monitor_runs"] = [active[0] if active else names[0]]
else:
    st.session_state["monitor_runs"] = [n for n in st.session_state["monitor_runs"] if n in names]

c1, c2 = st.columns([3, 1])
selected = c1.multiselect("Runs", names, key="monitor_runs", format_func=lambda n: f"{n} ({summaries[n]['state']})",
                          help="Pick several runs to overlay their curves.")
smoothing = c2.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="smoothing",
                      help="Exponential moving average, as in TensorBoard; faint lines are the raw values.")
if not selected:
    st.info("Pick at least one run above.")
    st.stop()

# Watching must not slow training (on a small machine the page shares the trainer's cores):
# the numbers refresh every few seconds, the charts are redrawn at most every CHART_EVERY.
REFRESH_S = env_refresh_s(3.0)
CHART_EVERY = max(3.0, 3 * REFRESH_S)  # 9 s by default
any_active = any(is_active(summaries[n]["state"]) for n in selected)
refresh = REFRESH_S if any_active else None


@st.cache_data(max_entries=16, show_spinner=False)
def cached_diversity(grids: tuple[tuple[int, str, float], ...], resolution: int):
    """The sample-variety trend, computed once per set of grid files (decoding them is the cost)."""
    return diversity_trend([(step, Path(path)) for step, path, _ in grids], resolution)


def reader(name: str) -> MetricsReader | None:
    run = open_run(name)
    if run is None:
        return None
    readers = st.session_state.setdefault("_metrics_readers", {})
    if name not in readers or readers[name].path != run.metrics_path:
        readers[name] = MetricsReader(run.metrics_path)
    return readers[name]


def controls(run: RunDir, state: str) -> None:
    mod = jobs()
    b1, b2, b3 = st.columns(3)
    stop = b1.button("Stop", icon=":material/stop_circle:", key=f"stop_{run.name}", width="stretch",
                     disabled=mod is None or state not in ("running",),
                     help="Finish the current step, write a checkpoint, then stop. Resume later.")
    resume = b2.button("Resume", icon=":material/play_circle:", key=f"resume_{run.name}", width="stretch",
                       disabled=mod is None or state not in ("stopped", "crashed", "failed", "diverged", "cancelled"),
                       help="Continue from the newest checkpoint in the background.")
    cancel = b3.button("Cancel", icon=":material/cancel:", key=f"cancel_{run.name}", width="stretch",
                       disabled=mod is None or state not in ("queued", "created"),
                       help="Take a queued run off the queue before it starts.")
    try:
        if stop:
            mod.stop(run.name, wait=False)
            st.toast(f"Stopping {run.name} after its current step …")
        if resume:
            mod.resume(run.name)
            st.toast(f"Resumed {run.name}")
        if cancel:
            mod.cancel(run.name)
            st.toast(f"Cancelled {run.name}")
    except Exception as exc:  # noqa: BLE001 - show what the jobs layer said
        st.error(f"{run.name}: {exc}")


def header(name: str) -> dict | None:
    run = open_run(name)
    if run is None:
        st.warning(f"{name} has disappeared.")
        return None
    s = run_summary(run)
    status = run.read_status()
    with st.container(border=True):
        h1, h2, h3, h4, h5 = st.columns([2, 0.9, 0.8, 0.8, 3.2])
        h1.markdown(f"**{name}** &nbsp;<span class='studio-badge studio-{badge_colour(s['state'])}'>{s['badge']}</span>",
                    unsafe_allow_html=True)
        h1.caption(f"{s['model']} · {s['loss']} loss · {s['data']} at {s['resolution']} px")
        h2.metric(f"Step of {s['total_steps']:,}" if s["total_steps"] else "Step", f"{s['step']:,}")
        ips = s["images_per_s"]
        h3.metric("Images/s", f"{ips:,.0f}" if isinstance(ips, (int, float)) else "–")
        h4.metric("Elapsed", duration_text(status.get("elapsed_s")))
        with h5:
            eta = eta_text(status.get("eta_s")) if is_active(s["state"]) else ""
            st.progress(s["progress"], text=f"{s['progress']:.0%}" + (f" · {eta}" if eta else ""))
            controls(run, s["state"])
        if s["state"] in ("failed", "crashed", "diverged") and s["error"]:
            st.error(f"**{s['state'].capitalize()}:** {s['error']}", icon=":material/error:")
            if status.get("traceback"):
                with st.expander("Traceback"):
                    st.code(status["traceback"], language="text")
    return s


@st.fragment(run_every=refresh)
def live() -> None:
    fresh = {name: header(name) for name in selected}
    data: dict[str, list] = {}
    evals: dict[str, list] = {}
    for name in selected:
        r = reader(name)
        train, ev = split_records(r.read() if r else [])
        data[name], evals[name] = train, ev
    # Charts are redrawn from scratch when their data change, so they change at most every
    # CHART_EVERY seconds (the numbers above them still update on every refresh).
    snap_key = ("|".join(selected), smoothing)
    snap = st.session_state.get("_chart_snapshot")
    now = time.monotonic()
    if snap is None or snap["key"] != snap_key or now - snap["time"] >= CHART_EVERY or not any(data.values()):
        snap = {"key": snap_key, "time": now, "counts": {n: len(v) for n, v in data.items()}}
        st.session_state["_chart_snapshot"] = snap
    data = {n: v[:snap["counts"].get(n, len(v))] for n, v in data.items()}
    primary = open_run(selected[0])
    try:
        cfg = primary.config() if primary else None
    except RunError:
        cfg = None
    points = point_count(data)
    last_step = max((rec.get("step", 0) for recs in data.values() for rec in recs[-1:]), default=0)

    left, right = st.columns([2.5, 1], gap="large")
    with left:
        st.markdown(f"<span class='studio-caption' id='chart-points'>{points} logged points · step {last_step:,}</span>",
                    unsafe_allow_html=True)
        if points == 0:
            st.info("Waiting for the first log line — curves appear after `log_every` steps.",
                    icon=":material/hourglass_top:")
        else:
            d_title, d_ref, d_ref_text = d_output_axis(cfg.loss if cfg else "minimax")
            for i in range(0, len(CHARTS), 2):
                cols = st.columns(2)
                for (title, keys, y_title), col in zip(CHARTS[i:i + 2], cols):
                    ref, ref_text = (0.5, "0.5: G fools D") if title == "D's accuracy" else (None, "")
                    if title == "D(x) and D(G(z))":
                        y_title, ref, ref_text = d_title, d_ref, d_ref_text
                    fig = chart_figure(title, keys, data, smoothing if title != "Speed" else 0.0, y_title,
                                       reference=ref, reference_text=ref_text)
                    col.plotly_chart(fig, key=f"chart_{title}", config={"displaylogo": False})
            if any(evals.values()):
                space = next((rec.get("feature_space") for recs in evals.values() for rec in recs
                              if rec.get("feature_space")), "features")
                keys = [(k, label) for k, label in EVAL_KEYS
                        if any(k in rec for recs in evals.values() for rec in recs)]
                cols = st.columns(2)
                for j, (k, label) in enumerate(keys):
                    fig = chart_figure(f"{label} · {space}", [(k, label)], evals, 0.0, label, height=260)
                    cols[j % 2].plotly_chart(fig, key=f"eval_{k}", config={"displaylogo": False})
    status = primary.read_status() if primary else {}
    state = (fresh.get(selected[0]) or {}).get("state")
    trend = None
    if primary is not None and cfg is not None and cfg.is_image_gan:
        grids = tuple((step, str(path), path.stat().st_mtime) for step, path in primary.sample_grids())
        trend = cached_diversity(grids, cfg.resolution)
    with right:
        if primary is not None:
            samples(primary, cfg)
        warnings = health_warnings(data.get(selected[0], []), cfg.loss if cfg else "minimax", diversity=trend,
                                   state=state, error=status.get("error"))
        st.markdown("##### Health")
        if not warnings:
            if points:
                st.success("No problems spotted in the curves or samples.", icon=":material/favorite:")
            else:
                st.caption("Checks start once metrics arrive.")
        for w in warnings:
            (st.error if w.level == "error" else st.warning)(f"**{w.title}.** {w.text}")
        st.markdown("##### Are my curves normal?")
        st.info(healthy_note(cfg.loss if cfg else "minimax"), icon=":material/help:")

    if primary is not None:
        g1, g2 = st.columns([1, 1.5], gap="large")
        with g1:
            if trend is not None and len(trend.values) > 2:
                import plotly.graph_objects as go_

                fig = go_.Figure(go_.Scatter(x=trend.steps, y=trend.values, mode="lines+markers",
                                             line=dict(color="#10B981", width=2)))
                fig.update_layout(title="Sample variety (mean pairwise distance of the grid)", height=260,
                                  template="plotly_white", margin=dict(l=10, r=10, t=40, b=10),
                                  xaxis_title="step", yaxis_title="distance", title_font=dict(size=15))
                st.plotly_chart(fig, key="diversity", config={"displaylogo": False})
        with g2:
            with st.expander(f"Log · {primary.name}", expanded=False, icon=":material/terminal:"):
                st.code(log_tail_text(primary, 60) or "(empty)", language="text")


def samples(primary: RunDir, cfg) -> None:
    """The fixed-noise grids through training, with a slider that follows the newest."""
    grids = primary.sample_grids()
    st.markdown("##### Samples")
    if not grids:
        st.caption("The first fixed-noise grid appears when training starts.")
        return
    steps = [s for s, _ in grids]
    key = f"grid_step_{primary.name}"
    last_max = st.session_state.get(f"_{key}_max")
    if key not in st.session_state or st.session_state[key] not in steps or st.session_state[key] == last_max:
        st.session_state[key] = steps[-1]
    st.session_state[f"_{key}_max"] = steps[-1]
    chosen = st.session_state[key]
    try:
        image = Image.open(io.BytesIO(dict(grids)[chosen].read_bytes()))
        tile = cfg.resolution + 2 if cfg is not None else None
        if tile and image.height > image.width * 1.2:  # few classes: a tall grid; show its first rows
            image = image.crop((0, 0, image.width, 2 + tile * max(1, (image.width - 2) // tile)))
        st.image(image, width="stretch",
                 caption=f"Same fixed noise at step {chosen:,}" + (" · one column per class" if cfg and cfg.conditional else ""))
    except (OSError, ValueError):
        st.caption("That grid was just replaced; it will show on the next refresh.")
    if len(steps) > 1:
        st.select_slider("Through training", steps, key=key, format_func=lambda s: f"step {s:,}",
                         label_visibility="collapsed",
                         help="The same fixed noise at every step: slide to watch the images form.")

live()

if st.button("Generate images from this run", icon=":material/auto_awesome:", key="to_generate"):
    go("generate", generate_run=selected[0])
