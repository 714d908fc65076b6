"""Train: the config as a form, validated as you type, launched as a background job."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from gan_core.cli import _FLAG_HELP  # noqa: E402
from gan_core.config import (AUGMENTS, DEVICES, G_NORMS, LOSSES, MODELS, NORMS, PRESETS, ConfigError,  # noqa: E402
                             TrainConfig, preset_for)
from gan_core.data import list_datasets  # noqa: E402
from gan_core.rundir import RunError, checkpoints_root, validate_name  # noqa: E402
from gan_core.views import default_run_name  # noqa: E402
from ui.common import go, jobs, page_setup, runs_safe  # noqa: E402

page_setup("Train")
st.title("Train a GAN")
st.caption("Pick a data set (its recipe fills the form), adjust what you like, and launch. "
           "Training runs in the background: you can close the browser and come back.")

HELP = dict(_FLAG_HELP)
HELP.update({
    "data": "The images to learn from: a built-in set or one you imported on the Data page.",
    "resolution": "Image size in pixels the GAN learns (power of two 16–128 for DCGAN).",
    "channels": "1 = greyscale, 3 = colour. Colour sets can be learned in grey and vice versa.",
    "conditional": "Learn one generator for all classes and choose the class when generating.",
    "model": "stylegan2: style-based, for colour images at 32–256 px and small sets (the default for emoji and "
             "your folders) · dcgan: convolutional, fast, fine for small greyscale sets · mlp: the original 2014 GAN.",
    "width": "Base channel count: bigger = more capacity, slower. 64 is the classic DCGAN.",
    "loss": "minimax is the original; hinge + spectral norm is the most forgiving.",
    "steps": "Generator updates to train (ignored when a minutes budget is set).",
    "minutes": "Wall-clock budget; 0 = train for the number of steps.",
})
GROUPS: list[tuple[str, str, list[str]]] = [
    ("Data", ":material/photo_library:", ["data", "resolution", "channels", "conditional"]),
    ("Model", ":material/account_tree:", ["model", "z_dim", "width", "g_norm", "d_norm", "spectral_norm", "minibatch_std", "scale", "frames",
                                               "mapping_layers", "style_mixing"]),
    ("Loss", ":material/functions:", ["loss", "r1_gamma", "r1_every", "gp_weight", "d_steps"]),
    ("Optimiser", ":material/speed:", ["batch_size", "lr_g", "lr_d", "beta1", "beta2", "ema", "ema_decay", "augment",
                                        "ada_target", "ada_kimg"]),
    ("Schedule", ":material/schedule:", ["steps", "minutes", "log_every", "sample_every", "checkpoint_every",
                                          "eval_every", "eval_samples"]),
    ("Hardware", ":material/memory:", ["device", "threads", "bf16", "compile", "cuda_graph", "seed", "on_diverge"]),
]
CHOICES = {"model": MODELS, "loss": LOSSES, "g_norm": G_NORMS, "d_norm": NORMS, "device": DEVICES,
           "on_diverge": ("stop", "rollback"), "channels": (1, 3), "resolution": (16, 32, 64, 128, 256),
           "scale": (2, 4)}
FLOATS = {"lr_g", "lr_d", "beta1", "beta2", "ema_decay", "r1_gamma", "gp_weight", "minutes", "style_mixing",
          "ada_target", "ada_kimg"}
BOOLS = {"conditional", "spectral_norm", "minibatch_std", "ema", "bf16", "compile", "cuda_graph"}
ONLY_FOR = {"scale": ("srgan",), "frames": ("dvdgan",), "gp_weight": None,
            "mapping_layers": ("stylegan2",), "style_mixing": ("stylegan2",)}
FIELDS = [f for _, _, names in GROUPS for f in names]

datasets = list_datasets()
available = [d.name for d in datasets if d.available]
default_data = "fashion-mnist" if "fashion-mnist" in available else (available[0] if available else "shapes")


def load_values(values: dict) -> None:
    base = TrainConfig().to_dict()
    base.update(values)
    for name in FIELDS:
        value = base[name]
        if name in FLOATS:
            value = float(value)
        elif name not in BOOLS and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = int(value)
        st.session_state[f"f_{name}"] = value
    st.session_state["f_preset"] = base.get("preset") or ""


def on_data_change() -> None:
    data = st.session_state["f_data"]
    load_values(preset_for(data))
    st.session_state["f_data"] = data
    if data in PRESETS:
        st.session_state["preset_pick"] = data


def on_preset_change() -> None:
    preset = st.session_state["preset_pick"]
    if preset in PRESETS:
        load_values(dict(PRESETS[preset], preset=preset))


if "f_data" not in st.session_state:
    load_values(preset_for(default_data))
    st.session_state["preset_pick"] = default_data if default_data in PRESETS else "classic"


def current_values() -> dict:
    values = {name: st.session_state.get(f"f_{name}") for name in FIELDS}
    values["preset"] = st.session_state.get("f_preset", "")
    init = st.session_state.get("init_from_pick", "")
    values["init_from"] = "" if init in (None, "(none)") else init
    return values


# ---- validate before drawing, so each error appears under its own field ----------------
values = current_values()
error: ConfigError | None = None
cfg: TrainConfig | None = None
try:
    cfg = TrainConfig.from_dict(values)
except ConfigError as exc:
    error = exc
errors: dict[str, str] = {error.field: str(error).split(": ", 1)[-1]} if error else {}

notes: dict[str, str] = {}
info = next((d for d in datasets if d.name == values["data"]), None)
if info is not None and not info.available:
    errors.setdefault("data", f"{info.name} is not on this machine — {info.note}")
if info is not None and values["conditional"] and info.available and not info.classes:
    errors.setdefault("conditional", f"{info.name} has no class folders: untick conditional to train it")
if cfg is not None and cfg.batch_size * cfg.d_steps > 1024 and cfg.device in ("cpu", "auto"):
    notes["batch_size"] = "Large batches are slow on a CPU; 64 is a good start."
if cfg is not None and cfg.checkpoint_every > cfg.steps and not cfg.minutes:
    notes["checkpoint_every"] = "Only the final checkpoint will be written (checkpoint_every > steps)."


def field(name: str, col) -> None:
    key = f"f_{name}"
    label = name.replace("_", " ")
    help_text = HELP.get(name)
    with col:
        if name == "data":
            options = [d.name for d in datasets]
            if st.session_state[key] not in options:
                options.append(st.session_state[key])
            st.selectbox("data set", options, key=key, help=help_text, on_change=on_data_change,
                         format_func=lambda n: n + ("" if n in available or n not in {d.name for d in datasets}
                                                    else " (missing)"))
        elif name == "augment":
            st.multiselect("Augmentation (DiffAugment, or ada alone)", list(AUGMENTS), key=key, help=help_text)
        elif name in BOOLS:
            st.toggle(label, key=key, help=help_text)
        elif name in CHOICES:
            options = list(CHOICES[name])
            if st.session_state[key] not in options:
                options.append(st.session_state[key])
            st.selectbox(label, options, key=key, help=help_text)
        elif name in FLOATS:
            fine = ("beta1", "beta2", "ema_decay", "r1_gamma")  # values like 0.999 or StyleGAN2's gamma 0.025
            fmt = "%.1e" if name.startswith("lr") else ("%.4f" if name in fine else "%.2f")
            step = 1e-5 if name.startswith("lr") else (0.001 if name in fine else 0.5)
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
for row_start in range(0, len(GROUPS), 3):
    cols = st.columns(3, gap="medium")
    for (title, icon, names), col in zip(GROUPS[row_start:row_start + 3], cols):
        with col.container(border=True):
            st.markdown(f"##### {title}")
            for name in names:
                if name in ONLY_FOR and ONLY_FOR[name] and model not in ONLY_FOR[name] and name not in errors:
                    continue
                if name == "gp_weight" and values.get("loss") != "wgan-gp" and name not in errors:
                    continue
                field(name, st.container())

shown = {n for n in errors if n in FIELDS or n == "run_name"}
for name, text in errors.items():
    if name not in shown and name != "init_from":
        st.error(f"{name}: {text}")

mod = jobs()
valid = not errors and cfg is not None
summary = st.container()
left, right = st.columns([1, 3])
launch = left.button("Launch training", type="primary", icon=":material/play_arrow:", disabled=not valid or mod is None,
                     key="launch", width="stretch")
if mod is None:
    right.warning("Background training is not available in this build (gan_core.jobs is missing).")
elif not valid:
    right.error(f"Fix {len(errors)} problem{'s' if len(errors) > 1 else ''} above to launch.", icon=":material/block:")
else:
    budget = f"{cfg.minutes:g} minutes" if cfg.minutes else f"{cfg.steps:,} steps"
    right.markdown(f":material/check_circle: **Ready:** {cfg.model}{' (conditional)' if cfg.conditional else ''} on "
                   f"**{cfg.data}** at {cfg.resolution} px, {cfg.loss} loss, batch {cfg.batch_size}, {budget}"
                   + (f", fine-tuned from **{cfg.init_from}**" if cfg.init_from else "") + ".")

if launch and valid and mod is not None:
    name = raw_name or default_run_name(cfg.data, cfg.model)
    try:
        mod.launch(cfg, name)
    except (RunError, ConfigError, OSError, ValueError) as exc:
        st.error(f"Could not launch: {exc}")
    else:
        go("monitor", monitor_select=[name], flash=f"Launched **{name}**.")
