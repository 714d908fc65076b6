"""Train: the config as a form, validated as you type, launched as a background job."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from gan_core.access import AccessError, check_limits  # noqa: E402
from gan_core.access.ownership import launch_as  # noqa: E402
from gan_core.config import (GROUPS, PRESETS, ConfigError, TrainConfig, applies, full_help, preset_for,  # noqa: E402
                             specs)
from gan_core.config.fields import kind_of_field  # noqa: E402
from gan_core.data import list_datasets, split_sizes  # noqa: E402
from gan_core.data.limits import set_memory_problem  # noqa: E402
from gan_core.runs.rundir import RunError, checkpoints_root, validate_name  # noqa: E402
from ui.common import go, page_setup, runs_safe  # noqa: E402
from ui.estimate import estimate_text, measured_speed  # noqa: E402
from ui.machine import device_problem, idle_options  # noqa: E402
from ui.status import default_run_name, run_state  # noqa: E402
from ui.sweep_form import sweep_section  # noqa: E402

me = page_setup("Train")
st.title("Train a GAN")
st.caption("Pick a data set (its recipe fills the form), adjust what you like, and launch. "
           "Training runs in the background: you can close the browser and come back.")

# The form comes from the config's own field descriptions (gan_core.config.fields): labels,
# help, groups, choices and which run types a field applies to. Only the looks live here.
SPECS = specs(TrainConfig)
KINDS = {f.name: kind_of_field(f) for f in dataclasses.fields(TrainConfig)}
ICONS = {"Data": ":material/photo_library:", "Model": ":material/account_tree:", "Loss": ":material/functions:",
         "Optimiser": ":material/speed:", "Schedule": ":material/schedule:", "Hardware": ":material/memory:"}
FORMATS = {"lr_g": ("%.1e", 1e-5), "lr_d": ("%.1e", 1e-5), "beta1": ("%.4f", 0.001), "beta2": ("%.4f", 0.001),
           "ema_decay": ("%.4f", 0.001), "r1_gamma": ("%.4f", 0.001),  # StyleGAN2's gamma is 0.025
           "style_mixing": ("%.2f", 0.05), "ada_target": ("%.2f", 0.05), "ada_kimg": ("%.1f", 10.0)}
GROUP_FIELDS: list[tuple[str, str, list[str]]] = [
    (g, ICONS[g], [n for n, s in SPECS.items() if s.group == g]) for g in GROUPS if g in ICONS]
FIELDS = [f for _, _, names in GROUP_FIELDS for f in names]

datasets = list_datasets()
available = [d.name for d in datasets if d.available]
default_data = "fashion-mnist" if "fashion-mnist" in available else (available[0] if available else "shapes")


def load_values(values: dict) -> None:
    base = TrainConfig().to_dict()
    base.update(values)
    for name in FIELDS:
        value = base[name]
        if KINDS[name] == "float":
            value = float(value)
        elif KINDS[name] == "int" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = int(value)
        st.session_state[f"f_{name}"] = value
    st.session_state["f_preset"] = base.get("preset") or ""


def on_data_change() -> None:
    data = st.session_state["f_data"]
    load_values(preset_for(data))
    st.session_state["f_data"] = data
    if data in PRESETS:
        st.session_state["preset_pick"] = data


def on_model_change() -> None:
    """Every model brings its recipe for the set, as a set does for its default model: a
    translation model its widths, batch and domains; a video or restoration model the studio's
    (the folder recipe's ADA was refused for them); StyleGAN2 on Fashion-MNIST its own, not the
    DCGAN's hinge and lr 2e-4, and back to DCGAN the DCGAN's, not StyleGAN2's lr 0.0025 and R1."""
    model, data = st.session_state["f_model"], st.session_state["f_data"]
    load_values(preset_for(data, model))
    st.session_state["f_data"], st.session_state["f_model"] = data, model


def on_preset_change() -> None:
    preset = st.session_state["preset_pick"]
    if preset in PRESETS:
        load_values(dict(PRESETS[preset], preset=preset))


if "f_data" not in st.session_state:
    load_values(preset_for(default_data))
    st.session_state["preset_pick"] = default_data if default_data in PRESETS else "classic"


def keep_hidden_fields() -> None:
    """Streamlit drops a widget's state after a run that does not draw it, and a field the model
    does not use is not drawn (g_norm for stylegan2): two changes after picking emoji the page
    died on the missing key. Every field's last value is kept in ``f_kept``, and a dropped one is
    put back before anything is drawn."""
    kept = st.session_state.setdefault("f_kept", {})
    for name in FIELDS:
        key = f"f_{name}"
        if key in st.session_state:
            kept[name] = st.session_state[key]
        elif name in kept:
            st.session_state[key] = kept[name]


keep_hidden_fields()


def current_values() -> dict:
    values = {name: st.session_state.get(f"f_{name}") for name in FIELDS}
    values["preset"] = st.session_state.get("f_preset", "")
    init = st.session_state.get("init_from_pick", "")
    values["init_from"] = "" if init in (None, "(none)") else init
    return values


# ---- validate before drawing, so each error appears under its own field ----------------
values = current_values()
cfg: TrainConfig | None = None
errors: dict[str, str] = {}
for problem in TrainConfig.problems(values):  # all of them at once, each shown under its field
    errors.setdefault(problem.field, problem.message)
if not errors:
    cfg = TrainConfig.from_dict(values)

notes: dict[str, str] = {}
info = next((d for d in datasets if d.name == values["data"]), None)
if info is not None and not info.available:
    errors.setdefault("data", f"{info.name} is not on this machine — {info.note}")
if info is not None and values["conditional"] and info.available and not info.classes:
    errors.setdefault("conditional", f"{info.name} has no class folders: untick conditional to train it")
if info is not None and cfg is not None and (sizes := split_sizes(info)):
    if problem := set_memory_problem(sizes[0], cfg.channels, cfg.resolution):  # before a run fails on it
        errors.setdefault("resolution", problem)
if cfg is not None and cfg.batch_size * cfg.d_steps > 1024 and cfg.device in ("cpu", "auto"):
    notes["batch_size"] = "Large batches are slow on a CPU; 64 is a good start."
# Options that would do nothing on this machine are greyed with the reason; a device it
# does not have is an error here, not a failed run later.
idle = {} if values.get("device") is None else idle_options(values["device"])
notes.update(idle)
if values.get("device") and device_problem(values["device"]):
    errors.setdefault("device", device_problem(values["device"]))
if cfg is not None and not errors:
    try:
        check_limits(me, cfg)  # the operator's limits for web visitors (launch_as checks again)
    except AccessError as exc:
        errors["limits"] = str(exc)
if cfg is not None and cfg.checkpoint_every > cfg.steps and not cfg.minutes:
    notes["checkpoint_every"] = "Only the final checkpoint will be written (checkpoint_every > steps)."


def field(name: str, col) -> None:
    key = f"f_{name}"
    spec = SPECS[name]
    label = spec.label
    help_text = full_help(TrainConfig, name)
    kind = KINDS[name]
    options = spec.options or spec.allowed()
    with col:
        if name == "data":
            options = [d.name for d in datasets]
            if st.session_state[key] not in options:
                options.append(st.session_state[key])
            st.selectbox(label, options, key=key, help=help_text, on_change=on_data_change,
                         format_func=lambda n: n + ("" if n in available or n not in {d.name for d in datasets}
                                                    else " (missing)"))
        elif name == "model":
            st.selectbox(label, list(options), key=key, help=help_text, on_change=on_model_change)
        elif kind == "list":
            st.multiselect(label, list(options or ()), key=key, help=help_text)
        elif kind == "bool":
            st.toggle(label, key=key, help=help_text, disabled=name in idle and name != "device")
        elif options is not None:
            options = list(options)
            if st.session_state[key] not in options:
                options.append(st.session_state[key])
            st.selectbox(label, options, key=key, help=help_text)
        elif kind == "str":
            st.text_input(label, key=key, help=help_text)
        elif kind == "float":
            fmt, step = FORMATS.get(name, ("%.2f", 0.5))
            st.number_input(label, key=key, help=help_text, format=fmt, step=step)
        else:
            st.number_input(label, key=key, help=help_text, step=1)
        if name in errors:
            st.error(errors[name], icon=":material/error:")
        elif name in notes:
            st.caption(f":material/info: {notes[name]}")


top = st.columns([1, 1, 1.3])
with top[0]:
    st.selectbox("Preset", list(PRESETS), key="preset_pick", on_change=on_preset_change,
                 help="A known-good recipe. 'classic' is the 2015 DCGAN; the others are the studio's "
                      "hinge + spectral-norm recipe tuned per data set (class-conditional except on "
                      "Fashion-MNIST and MNIST, where unconditional gave more variety; tick "
                      "'conditional' to choose classes when generating).")
with top[1]:
    runs_with_ckpt = [r.name for r in runs_safe() if r.latest_checkpoint() is not None]
    st.selectbox("Fine-tune from", ["(none)"] + runs_with_ckpt, key="init_from_pick",
                 help="Start G and D from an earlier run's newest weights (layers that fit are kept).")
with top[2]:
    st.text_input("Run name", key="run_name", placeholder=default_run_name(values["data"] or "run", values["model"] or "dcgan"),
                  help="Folder name of the run; leave empty for an automatic one.")
    raw_name = (st.session_state.get("run_name") or "").strip()
    if raw_name:
        try:
            validate_name(raw_name)
        except RunError as exc:
            errors["run_name"] = str(exc)
        else:
            if (checkpoints_root() / raw_name).exists():
                errors["run_name"] = f"A run named {raw_name!r} exists already: choose another name (or resume it on Monitor)."
    if "run_name" in errors:
        st.error(errors["run_name"], icon=":material/error:")
if "init_from" in errors:
    st.error(errors["init_from"])

model = values.get("model")


def shown_here(name: str) -> bool:
    """A field that does nothing for this model (or loss) is left out, unless it holds an error."""
    if name in errors:
        return True
    if not applies(TrainConfig, name, model):
        return False
    return name != "gp_weight" or values.get("loss") == "wgan-gp"


# What a beginner touches first (data set, model, how long: FieldSpec.basic) sits up front;
# the rest waits in one expander that opens by itself when one of its fields is wrong, so an
# error is never hidden behind a closed section.
basic_names = [n for n in FIELDS if SPECS[n].basic and shown_here(n)]
for name, col in zip(basic_names, st.columns(len(basic_names), gap="medium")):
    field(name, col)

advanced_groups = [(title, [n for n in names if not SPECS[n].basic and shown_here(n)])
                   for title, _, names in GROUP_FIELDS]
advanced_groups = [(title, names) for title, names in advanced_groups if names]
advanced_errors = [n for n in FIELDS if n in errors and not SPECS[n].basic]
with st.expander("Advanced settings", expanded=bool(advanced_errors), icon=":material/tune:"):
    for row_start in range(0, len(advanced_groups), 3):
        cols = st.columns(3, gap="medium")
        for (title, names), col in zip(advanced_groups[row_start:row_start + 3], cols):
            with col.container(border=True):
                st.markdown(f"##### {title}")
                for name in names:
                    field(name, st.container())

shown = {n for n in errors if n in FIELDS or n == "run_name"}
for name, text in errors.items():
    if name not in shown and name != "init_from":
        st.error(f"{name}: {text}")
if advanced_errors:  # repeated next to Launch, by label, so the reason is seen without scrolling
    st.error("In Advanced settings:\n\n" + "\n".join(f"- **{SPECS[n].label}**: {errors[n]}" for n in advanced_errors),
             icon=":material/error:")

valid = not errors and cfg is not None
summary = st.container()
left, right = st.columns([1, 3])
launch = left.button("Launch training", type="primary", icon=":material/play_arrow:", disabled=not valid,
                     key="launch", width="stretch")
if not valid:
    right.error(f"Fix {len(errors)} problem{'s' if len(errors) > 1 else ''} above to launch.", icon=":material/block:")
else:
    budget = f"{cfg.minutes:g} minutes" if cfg.minutes else f"{cfg.steps:,} steps"
    right.markdown(f":material/check_circle: **Ready:** {cfg.model}{' (conditional)' if cfg.conditional else ''} on "
                   f"**{cfg.data}** at {cfg.resolution} px, {cfg.loss} loss, batch {cfg.batch_size}, {budget}"
                   + (f", fine-tuned from **{cfg.init_from}**" if cfg.init_from else "") + ".")
    past = runs_safe()
    busy = sum(1 for r in past if run_state(r) in ("running", "stopping"))
    right.markdown(f"<span id='train-estimate'></span>{estimate_text(cfg, measured_speed(cfg, past), busy)}",
                   unsafe_allow_html=True)

if launch and valid:
    name = raw_name or default_run_name(cfg.data, cfg.model)
    try:
        launch_as(me, cfg, name)  # the visitor's limits apply, and the run is recorded as theirs
    except (RunError, ConfigError, OSError, ValueError) as exc:
        st.error(f"Could not launch: {exc}")
    else:
        go("monitor", monitor_select=[name], flash=f"Launched **{name}**.")

sweep_section(cfg if not set(errors) - {"run_name"} else None, FIELDS, me)  # a sweep names its own runs
