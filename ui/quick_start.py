"""One-click runs: the default recipe on a data set, with or without class (and text) control."""
from __future__ import annotations

import streamlit as st

from gan_core.config import ConfigError, TrainConfig, preset_for
from gan_core.data import list_datasets
from gan_core.jobs import manager as jobs
from gan_core.runs.rundir import RunDir, RunError
from ui.common import go


def quick_start(data: str = "fashion-mnist", conditional: bool | None = None) -> None:
    """Launch the data set's preset (``conditional`` overrides its choice) and open Monitor.
    Fashion-MNIST's preset is unconditional (more variety per class, bench/results); a
    conditional run is what lets Generate take a class or a few words."""
    info = next((d for d in list_datasets() if d.name == data), None)
    if info is None or not info.available:
        st.error(f"{data} is not on this machine: " + (info.note if info else "unknown data set")
                 + ". Pick another data set on the Train page.")
        return
    values = preset_for(data)
    if conditional is not None:
        values["conditional"] = conditional
    try:
        cfg = TrainConfig.from_dict(values)
        name = RunDir.unique_name(f"{data}-classes" if cfg.conditional else data)
        jobs.launch(cfg, name)
    except (ConfigError, RunError, OSError, ValueError) as exc:
        st.error(f"Could not start the run: {exc}")
        return
    how = "with class and text control (conditional)" if cfg.conditional else "the default recipe"
    go("monitor", monitor_select=[name],
       flash=f"Started **{name}** — {data}, {how}."
       + (" Generate can take a class or a few words once it has a checkpoint (Stop writes one)." if cfg.conditional else ""))
