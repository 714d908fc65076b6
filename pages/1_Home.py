"""Home: what the studio does, the runs table, and a one-click start."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from gan_core.config import ConfigError, TrainConfig, preset_for  # noqa: E402
from gan_core.data import list_datasets  # noqa: E402
from gan_core.runs.rundir import RunDir, RunError  # noqa: E402
from gan_core.jobs import manager as jobs  # noqa: E402
from ui.runs_table import runs_table_rows  # noqa: E402
from ui.status import is_active, run_state  # noqa: E402
from ui.common import env_refresh_s, go, page_link, page_setup, runs_safe  # noqa: E402

page_setup("Home")

st.title("GAN Studio")
st.markdown(
    '<div class="studio-lede">'
    "Train generative adversarial networks on built-in or your own image sets, and watch them learn live.<br>"
    "Every run keeps its losses, sample grids and checkpoints, so you can compare, resume and fine-tune.<br>"
    "Then generate new images — by class or from a few words — and export them as a synthetic data set."
    "</div>",
    unsafe_allow_html=True,
)
st.write("")


def quick_start() -> None:
    fashion = next((d for d in list_datasets() if d.name == "fashion-mnist"), None)
    if fashion is None or not fashion.available:
        st.error("Fashion-MNIST is not on this machine: " + (fashion.note if fashion else "unknown data set")
                 + ". Pick another data set on the Train page.")
        return
    try:
        cfg = TrainConfig.from_dict(preset_for("fashion-mnist"))
        name = RunDir.unique_name("fashion-mnist")
        jobs.launch(cfg, name)
    except (ConfigError, RunError, OSError, ValueError) as exc:
        st.error(f"Could not start the run: {exc}")
        return
    go("monitor", monitor_select=[name], flash=f"Started **{name}** — the default Fashion-MNIST recipe.")


c1, c2, c3 = st.columns([1.2, 1, 3])
if c1.button("Quick start: Fashion-MNIST", type="primary", icon=":material/rocket_launch:",
             help="Launches the default recipe (DCGAN, hinge loss, spectral norm in D) "
                  "on Fashion-MNIST in the background and opens Monitor.", key="quick_start"):
    quick_start()
with c2:
    page_link("train", "Configure a run", icon=":material/tune:")

runs = runs_safe()
st.subheader("Runs")
if not runs:
    st.info(
        "**No runs yet.** Press **Quick start** to train the default recipe on Fashion-MNIST "
        "(samples appear within a minute), or go to **Train** to choose a data set and settings. "
        "Bring your own images on **Data**.",
        icon=":material/lightbulb:",
    )
else:
    any_active = any(is_active(run_state(r)) for r in runs)

    @st.fragment(run_every=env_refresh_s(3.0) * 2 if any_active else None)
    def runs_table() -> None:
        rows = runs_table_rows(runs_safe())
        for row in rows:
            row["Progress"] = round(100 * float(row["Progress"] or 0.0))
        event = st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            row_height=56,
            on_select="rerun",
            selection_mode="single-row",
            key="runs_table",
            column_config={
                "Run": st.column_config.TextColumn("Run", width=150),
                "State": st.column_config.TextColumn("State", width=95),
                "Progress": st.column_config.ProgressColumn("Progress", min_value=0, max_value=100,
                                                            format="%d%%", width=100),
                "Step": st.column_config.TextColumn("Step", width=105),
                "Data set": st.column_config.TextColumn("Data set", width=110),
                "Model": st.column_config.TextColumn("Model", width=165),
                "Latest sample": st.column_config.ImageColumn("Latest sample", width=170),
                "Started": st.column_config.TextColumn("Started", width=80),
                "Note": st.column_config.TextColumn("Note", width=220),
            },
        )
        selected = list(getattr(getattr(event, "selection", None), "rows", []) or [])
        if selected:
            name = rows[selected[0]]["Run"]
            go("monitor", monitor_select=[name])
        st.caption("Select a row to open it in Monitor.")

    runs_table()
