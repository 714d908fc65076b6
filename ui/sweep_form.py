"""Train's Sweep section: one or two settings, their values and a seed count, queued as jobs."""
from __future__ import annotations

import time

import streamlit as st

from gan_core.access import Identity
from gan_core.access.ownership import queue_sweep_as
from gan_core.config import ConfigError, TrainConfig
from gan_core.experiments.sweep import MAX_FIELDS, MAX_SEEDS, SweepError, expand
from gan_core.runs.rundir import RunError
from ui.common import go


def sweep_section(cfg: TrainConfig | None, fields: list[str], me: Identity) -> None:
    """The form's config is the base; each chosen field takes the listed values in turn."""
    with st.expander("Sweep: try several values at once", icon=":material/grid_view:"):
        st.caption("One run per combination of the values (x seeds), each an ordinary background job in the "
                   "queue, tagged with the sweep's name so Compare can show them together.")
        if cfg is None:
            st.info("Fix the form above first: the sweep starts from its settings.")
            return
        chosen = st.multiselect("Settings to vary", [f for f in fields if f != "seed"], max_selections=MAX_FIELDS,
                                key="sweep_fields")
        vary = []
        for name in chosen:
            current = cfg.to_dict()[name]
            text = st.text_input(f"Values of {name}", value=str(current), key=f"sweep_values_{name}",
                                 help="Comma-separated, e.g. 2e-4, 4e-4 or hinge, nonsaturating.")
            vary.append((name, [v.strip() for v in text.split(",") if v.strip()]))
        c1, c2 = st.columns(2)
        seeds = int(c1.number_input("Seeds per setting", 1, MAX_SEEDS, 2, key="sweep_seeds",
                                    help="Several seeds show how much of a difference is luck (Compare gives mean ± spread)."))
        name = c2.text_input("Sweep name", value=f"sweep-{time.strftime('%m%d-%H%M')}", key="sweep_name").strip()
        if not vary:
            st.caption("Choose one or two settings.")
            return
        try:
            plan = expand(cfg.to_dict(), vary, seeds, name)
        except (ConfigError, SweepError, RunError) as exc:
            st.error(str(exc), icon=":material/error:")
            return
        st.markdown(f"**{len(plan)} runs:** " + ", ".join(f"`{n}`" for n, _ in plan))
        if st.button(f"Queue {len(plan)} runs", icon=":material/playlist_add:", key="sweep_go", type="primary"):
            try:
                queue_sweep_as(me, plan)  # the visitor's limits, every run counted; recorded as theirs
            except (RunError, ConfigError, OSError) as exc:
                st.error(f"Nothing queued: {exc}")
            else:
                go("compare", compare_tag=name, flash=f"Queued **{len(plan)} runs** of sweep **{name}**.")
