"""Monitor: live curves, sample grids through training, health checks and run controls."""
from __future__ import annotations

import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402
from PIL import Image  # noqa: E402

from gan_core.access import ownership  # noqa: E402
from gan_core.experiments.report import build_report  # noqa: E402
from gan_core.runs.rundir import RunDir, RunError  # noqa: E402
from gan_core.runs.metrics_log import MetricsReader, split_records  # noqa: E402
from gan_core.runs.states import RunState  # noqa: E402
from gan_core.runtypes.registry import of_kind  # noqa: E402
from ui.auth import refusal_note  # noqa: E402
from ui.charts import EVAL_KEYS, chart_figure, charts_for, d_output_axis, point_count, variety_figure  # noqa: E402
from gan_core.runs.health import diversity_trend, health_warnings, healthy_note  # noqa: E402
from ui.runs_table import log_tail_text, run_summary  # noqa: E402
from ui.status import control_help, duration_text, is_active, run_state  # noqa: E402
from ui.status import state_colour as badge_colour  # noqa: E402
from ui.common import env_refresh_s, go, open_run, page_setup, runs_safe  # noqa: E402

me = page_setup("Monitor")
st.title("Monitor")

flash = st.session_state.pop("flash", None)
if flash:
    st.success(flash, icon=":material/rocket_launch:")
toast = st.session_state.pop("monitor_toast", None)
if toast:
    st.toast(toast)

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

# Watching must not slow training (on a small machine the page, and the browser drawing it,
# share the trainer's cores; bench/monitor_overhead.py measures it). Two kinds of fragment,
# each on its own clock: a run's numbers (one small HTML block) every REFRESH_S, and the
# charts, grids and health checks every CHART_EVERY, as often as TensorBoard reloads by
# default; redrawing six Plotly charts is most of what the browser spends. "Refresh charts"
# redraws them at once.
# The numbers tick even for a stopped or finished run: a resume from another tab or the CLI
# must show within one refresh (issue #16: a clock that stopped with the run never noticed).
REFRESH_S = env_refresh_s(3.0)
CHART_EVERY = env_refresh_s(30.0, "GAN_STUDIO_CHART_S")
any_active = any(is_active(summaries[n]["state"]) for n in selected)
chart_refresh = CHART_EVERY if any_active else None


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


BUTTONS = {"stop": ("Stop", ":material/stop_circle:"), "resume": ("Resume", ":material/play_circle:"),
           "cancel": ("Cancel", ":material/cancel:")}


def action_button(col, run: RunDir, state: str, action: str, not_yours: str | None) -> bool:
    """Enabled only when the run's state allows ``action`` and the visitor may act on the
    run; the tooltip says which of the two stands in the way."""
    label, icon = BUTTONS[action]
    return col.button(label, icon=icon, key=f"{action}_{run.name}", width="stretch",
                      disabled=not RunState.permits(state, action) or bool(not_yours),
                      help=not_yours or control_help(action, state))


def controls(run: RunDir, state: str) -> None:
    not_yours = refusal_note(me, ownership.run_owner(run))  # the *_as calls below refuse it anyway
    b1, b2, b3 = st.columns(3)
    stop = action_button(b1, run, state, "stop", not_yours)
    resume = action_button(b2, run, state, "resume", not_yours)
    cancel = action_button(b3, run, state, "cancel", not_yours)
    try:
        if stop:
            ownership.stop_as(me, run.name, wait=False)
            done = f"Stopping {run.name} after its current step …"
        elif resume:
            ownership.resume_as(me, run.name)
            done = f"Resumed {run.name}"
        elif cancel:
            ownership.cancel_as(me, run.name)
            done = f"Cancelled {run.name}"
        else:
            return
    except Exception as exc:  # noqa: BLE001 - show what the jobs layer said
        st.error(f"{run.name}: {exc}")
        return
    # This script run read the state before the click was handled: its badge, buttons and
    # refresh clocks describe the old state. Run the page again from the new one.
    st.session_state["monitor_toast"] = done
    st.rerun()


def header(name: str) -> None:
    """A run's name, state and buttons (redrawn when its state changes) around its live numbers."""
    run = open_run(name)
    if run is None:
        st.warning(f"{name} has disappeared.")
        return
    s = summaries[name]  # read at the top of this same script run
    with st.container(border=True):
        h1, h2, h3 = st.columns([1.8, 3, 3.2])
        h1.markdown(f"**{name}** &nbsp;<span class='studio-badge studio-{badge_colour(s['state'])}'>{s['badge']}</span>",
                    unsafe_allow_html=True)
        owner = ownership.run_owner(run)
        h1.caption(f"{s['model']} · {s['loss']} loss · {s['data']} at {s['resolution']} px"
                   + (f" · by {owner}" if owner else ""))
        with h2:
            numbers(name, s["state"])
        with h3:
            controls(run, s["state"])
        if s["state"] in ("failed", "crashed", "diverged") and s["error"]:
            st.error(f"**{s['state'].capitalize()}:** {s['error']}", icon=":material/error:")
            traceback = run.read_status().get("traceback")
            if traceback and me.operator:  # server paths: not for visitors
                with st.expander("Traceback"):
                    st.code(traceback, language="text")


@st.fragment(run_every=REFRESH_S)
def numbers(name: str, shown_state: str) -> None:
    """Step, images/s, elapsed time and progress, as one small block. When the run's state
    changes (it finished, failed, was stopped or resumed, here or elsewhere) the whole page
    reruns, so badge, buttons and refresh clocks follow."""
    run = open_run(name)
    if run is None:
        return
    s = run_summary(run)
    if s["state"] != shown_state:
        st.rerun()
    ips = s["images_per_s"]
    step_label = f"step of {s['total_steps']:,}" if s["total_steps"] else "step"
    cells = [(f"{s['step']:,}", step_label), (f"{ips:,.0f}" if isinstance(ips, (int, float)) else "–", "images/s"),
             (duration_text(s["elapsed_s"]), "elapsed"), (f"{s['progress']:.0%}", s["eta"] or "progress")]
    stats = "".join(f"<div><b>{value}</b><span>{label}</span></div>" for value, label in cells)
    st.markdown(f"<div class='studio-stats' id='stats-{name}'>{stats}</div>"
                f"<div class='studio-bar'><div style='width:{100 * s['progress']:.1f}%'></div></div>",
                unsafe_allow_html=True)


def figure(key: tuple, build):
    """The figure from the previous redraw when ``key`` (its data's identity) is unchanged, so
    a click on the grid slider or a finished run's page rebuilds no Plotly figure."""
    figures = st.session_state.get("_figures", {})
    fig = figures.get(key) or build()
    st.session_state.setdefault("_figures_next", {})[key] = fig
    return fig


@st.fragment(run_every=chart_refresh)
def live_charts() -> None:
    st.session_state["_figures_next"] = {}
    data: dict[str, list] = {}
    evals: dict[str, list] = {}
    for name in selected:
        r = reader(name)
        train, ev = split_records(r.read() if r else [])
        data[name], evals[name] = train, ev
    version = tuple((n, len(data[n]), len(evals[n])) for n in selected)  # records only ever get appended
    primary = open_run(selected[0])
    try:
        cfg = primary.config() if primary else None
    except RunError:
        cfg = None
    points = point_count(data)
    last_step = max((rec.get("step", 0) for recs in data.values() for rec in recs[-1:]), default=0)

    left, right = st.columns([2.5, 1], gap="large")
    with left:
        c1, c2 = st.columns([4, 1])
        every = f" · charts redraw every {CHART_EVERY:g} s" if chart_refresh else ""
        c1.markdown(f"<span class='studio-caption' id='chart-points'>{points} logged points · step {last_step:,}"
                    f"{every}</span>", unsafe_allow_html=True)
        c2.button("Refresh charts", icon=":material/refresh:", key="refresh_charts", type="tertiary",
                  help="Redraw the charts now (a button inside this part of the page reruns only it).")
        if points == 0:
            st.info("Waiting for the first log line — curves appear after `log_every` steps.",
                    icon=":material/hourglass_top:")
        else:
            d_title, d_ref, d_ref_text = d_output_axis(cfg.loss if cfg else "minimax")
            charts = charts_for(data)
            for i in range(0, len(charts), 2):
                cols = st.columns(2)
                for (title, keys, y_title), col in zip(charts[i:i + 2], cols):
                    ref, ref_text = (0.5, "0.5: G fools D") if title == "D's accuracy" else (None, "")
                    if title == "D(x) and D(G(z))":
                        y_title, ref, ref_text = d_title, d_ref, d_ref_text
                    smooth = smoothing if title != "Speed" else 0.0
                    fig = figure((title, version, smooth, y_title),
                                 lambda: chart_figure(title, keys, data, smooth, y_title, reference=ref,
                                                      reference_text=ref_text))
                    col.plotly_chart(fig, key=f"chart_{title}", config={"displaylogo": False})
            if any(evals.values()):
                space = next((rec.get("feature_space") for recs in evals.values() for rec in recs
                              if rec.get("feature_space")), "features")
                keys = [(k, label) for k, label in EVAL_KEYS
                        if any(k in rec for recs in evals.values() for rec in recs)]
                st.caption(f"Quality scores · feature space **{space}**")  # (in each title it was cut short)
                cols = st.columns(2)
                for j, (k, label) in enumerate(keys):
                    fig = figure(("eval", k, version, space),
                                 lambda: chart_figure(label, [(k, label)], evals, 0.0, label, height=260))
                    cols[j % 2].plotly_chart(fig, key=f"eval_{k}", config={"displaylogo": False})
    status = primary.read_status() if primary else {}
    state = run_state(primary) if primary else None
    trend = None
    if primary is not None and cfg is not None and cfg.is_image_gan:
        grids = tuple((step, str(path), path.stat().st_mtime) for step, path in primary.sample_grids())
        trend = cached_diversity(grids, cfg.resolution)
    with right:
        if primary is not None:
            samples(primary, cfg)
        warnings = health_warnings(data.get(selected[0], []) + evals.get(selected[0], []),
                                   cfg.loss if cfg else "minimax", diversity=trend,
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
        st.info(healthy_note(cfg.loss if cfg else "minimax", cfg.model if cfg else None), icon=":material/help:")

    if primary is not None:
        g1, g2 = st.columns([1, 1.5], gap="large")
        with g1:
            if trend is not None and len(trend.values) > 2:
                fig = figure(("variety", tuple(trend.steps)), lambda: variety_figure(trend))
                st.plotly_chart(fig, key="diversity", config={"displaylogo": False})
        with g2:
            if me.operator:  # the log names server paths: operators only
                with st.expander(f"Log · {primary.name}", expanded=False, icon=":material/terminal:"):
                    st.code(log_tail_text(primary, 60) or "(empty)", language="text")
    st.session_state["_figures"] = st.session_state.pop("_figures_next")


@st.cache_data(max_entries=8, show_spinner=False)
def grid_png(path: str, mtime: float, tile: int) -> bytes:
    """A grid as shown (a tall one cut to its first rows), encoded once, not on every refresh."""
    image = Image.open(io.BytesIO(Path(path).read_bytes()))
    if tile and image.height > image.width * 1.2:  # few classes: a tall grid; show its first rows
        image = image.crop((0, 0, image.width, 2 + tile * max(1, (image.width - 2) // tile)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def grid_caption(cfg, step: int) -> str:
    if cfg is not None and cfg.run_type.grid_rows:
        return f"Fixed held-out images at step {step:,} · rows: {cfg.run_type.grid_rows}"
    return f"Same fixed noise at step {step:,}" + (" · one column per class" if cfg and cfg.conditional else "")


def model_of(name: str) -> str | None:
    """A run's model, None when its config cannot be read."""
    run = open_run(name)
    try:
        return run.config().model if run else None
    except RunError:
        return None


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
    path = dict(grids)[chosen]
    try:
        image = grid_png(str(path), path.stat().st_mtime, cfg.resolution + 2 if cfg is not None else 0)
        st.image(image, width="stretch", caption=grid_caption(cfg, chosen))
    except (OSError, ValueError):
        st.caption("That grid was just replaced; it will show on the next refresh.")
    if len(steps) > 1:
        st.select_slider("Through training", steps, key=key, format_func=lambda s: f"step {s:,}",
                         label_visibility="collapsed",
                         help=("The same held-out images at every step: slide to watch the translations form."
                               if cfg is not None and cfg.run_type.grid_rows else
                               "The same fixed noise at every step: slide to watch the images form."))

for name in selected:
    header(name)
live_charts()

b1, b2, _ = st.columns([1, 1, 2])
if model_of(selected[0]) in of_kind("translation"):  # Generate only says "use Translate" for these
    if b1.button("Translate with this run", icon=":material/swap_horiz:", key="to_translate"):
        go("translate", translate_run=selected[0])
elif b1.button("Generate images from this run", icon=":material/auto_awesome:", key="to_generate"):
    go("generate", generate_run=selected[0])
b2.download_button("Report", data=lambda names=tuple(selected): build_report(list(names), skip_missing=True).encode("utf-8"),
                   file_name=f"{selected[0]}-report.html", mime="text/html", icon=":material/description:",
                   key="monitor_report", help="One HTML file of the selected runs (samples, curves, metrics, config, "
                                              "model card) that opens offline; built when you click.")
