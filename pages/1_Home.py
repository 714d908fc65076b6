"""Home: what the studio does, the runs table, and a one-click start."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from gan_core.access.ownership import run_owner  # noqa: E402
from ui.runs_table import runs_table_rows  # noqa: E402
from ui.common import env_refresh_s, go, page_link, page_setup, runs_safe  # noqa: E402
from ui.quick_start import quick_start  # noqa: E402

me = page_setup("Home")

st.title("GAN Studio")
st.markdown(
    '<div class="studio-lede">'
    "Train generative adversarial networks on built-in or your own image sets, and watch them learn live.<br>"
    "Every run keeps its losses, sample grids and checkpoints, so you can compare, resume and fine-tune.<br>"
    "Then generate new images — by class or from a few words, with a class-conditional run "
    "(<b>Quick start with class &amp; text control</b>) — and export them as a synthetic data set."
    "</div>",
    unsafe_allow_html=True,
)
st.write("")


buttons = st.container(horizontal=True, gap="small")  # each button as wide as its label (none cut off)
if buttons.button("Quick start: Fashion-MNIST", type="primary", icon=":material/rocket_launch:",
                  help="Launches the default recipe (DCGAN, hinge loss, spectral norm in D) on Fashion-MNIST "
                       "in the background and opens Monitor. Unconditional: the model picks the class itself.",
                  key="quick_start"):
    quick_start()
if buttons.button("Quick start with class & text control", icon=":material/text_fields:",
                  help="The same recipe, class-conditional: Generate then takes a class or a few words "
                       "(\"a bag\", \"sneakers\").", key="quick_start_conditional"):
    quick_start(conditional=True)
with buttons:
    page_link("train", "Configure a run", icon=":material/tune:")

runs = runs_safe()
st.subheader("Runs")
if not runs:
    # Polls too: a first run started from another tab or the CLI brings the table without a click.
    @st.fragment(run_every=env_refresh_s(3.0) * 2)
    def no_runs_yet() -> None:
        if runs_safe():
            st.rerun()
        st.info(
            "**No runs yet.** Press **Quick start** to train the default recipe on Fashion-MNIST "
            "(samples appear within a minute), **Quick start with class & text control** for a model you can "
            "ask for a class or a few words, or go to **Train** to choose a data set and settings. "
            "Bring your own images on **Data**.",
            icon=":material/lightbulb:",
        )

    no_runs_yet()
else:
    # The table ticks even when nothing trains, so a run started, stopped or resumed from
    # another tab or the CLI shows within one refresh (thumbnails are cached per grid file).
    @st.fragment(run_every=env_refresh_s(3.0) * 2)
    def runs_table() -> None:
        shown = runs_safe()
        owners = {r.name: run_owner(r) for r in shown}
        rows = [{"Run": row["Run"], "By": owners.get(row["Run"]) or "", **row} for row in runs_table_rows(shown)]
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
            # Fixed widths that sum to what a 1400 px window leaves beside the sidebar (about
            # 940 px): the last column was cut off there. The note takes the rest; hover for all.
            column_config={
                "Run": st.column_config.TextColumn("Run", width=140),
                "State": st.column_config.TextColumn("State", width=90),
                "Progress": st.column_config.ProgressColumn("Progress", min_value=0, max_value=100,
                                                            format="%d%%", width=90),
                "Step": st.column_config.TextColumn("Step", width=75),
                "Data set": st.column_config.TextColumn("Data set", width=90),
                "Model": st.column_config.TextColumn("Model", width=135),
                "Latest sample": st.column_config.ImageColumn("Latest sample", width=120),
                "Started": st.column_config.TextColumn("Started", width=70),
                "By": st.column_config.TextColumn("By", width=90, help="Who started the run"),
                "Note": st.column_config.TextColumn("Note"),
            },
        )
        selected = list(getattr(getattr(event, "selection", None), "rows", []) or [])
        if selected:
            name = rows[selected[0]]["Run"]
            go("monitor", monitor_select=[name])
        st.caption("Select a row to open it in Monitor.")

    runs_table()
