"""Augment: does synthetic data help a classifier? Launch a lab, watch it, read its table."""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from gan_core.access import AccessError  # noqa: E402
from gan_core.access.ownership import lab_refusal, launch_lab_as, stop_lab_as  # noqa: E402
from gan_core.auglab.background import ACTIVE, lab_progress  # noqa: E402
from gan_core.auglab.classifier import ClassifierBudget  # noqa: E402
from gan_core.auglab.lab import (  # noqa: E402
    DEFAULT_AUGMENT,
    Lab,
    LabError,
    LabSpec,
    lab_summary,
    list_labs,
)
from gan_core.auglab.report import markdown_table  # noqa: E402
from gan_core.config import AUGMENTS, PRESETS  # noqa: E402
from gan_core.data import DatasetError, list_datasets  # noqa: E402
from gan_core.runs.rundir import RunDir, RunError, list_runs  # noqa: E402
from ui.common import env_refresh_s, page_setup  # noqa: E402

me = page_setup("Augment")
not_allowed = lab_refusal(me)  # labs are an operator's action on a shared studio
st.title("Augment lab")
st.markdown(
    '<div class="studio-lede">Does data from a GAN make a classifier better when you have only a few images per '
    "class? The lab draws K real images per class, trains a class-conditional GAN on those alone, then trains the "
    "same small classifier on real only, real + synthetic, and synthetic only, and scores each on the held-out "
    "test split over several seeds. A measured answer for your data, whichever way it goes.</div>",
    unsafe_allow_html=True,
)


def _numbers(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise LabError(f"{what}: whole numbers separated by spaces, e.g. 10 50 200") from None
    if not values:
        raise LabError(f"{what}: give at least one number")
    return values


def launch_form() -> None:
    labelled = [d for d in list_datasets() if d.available and len(d.classes) >= 2]
    if not labelled:
        st.info("No labelled data set is available: import a folder with one subfolder per class on the Data page.")
        return
    names = [d.name for d in labelled]
    with st.form("auglab_form"):
        c1, c2, c3 = st.columns(3)
        data = c1.selectbox("Data set", names, index=names.index("shapes") if "shapes" in names else 0, key="aug_data")
        ks = c2.text_input("K real images per class", "10 50 200", key="aug_k",
                           help="One GAN and one set of classifiers per K. Draws are nested: the 10 are among the 50.")
        ms = c3.text_input("M synthetic images per class", "500", key="aug_m")
        c1, c2, c3 = st.columns(3)
        seeds = c1.number_input("Classifier seeds", 1, 20, 3, key="aug_seeds")
        budget_kind = c2.radio("GAN budget", ["minutes", "steps"], horizontal=True, key="aug_budget_kind")
        budget = c3.number_input("per GAN", 0.1, 100_000.0, 3.0, key="aug_budget",
                                 help="Minutes of training (wall clock) or generator steps, for each K.")
        c1, c2, c3 = st.columns(3)
        policies = [DEFAULT_AUGMENT, "translation,cutout", "none"] + (["ada"] if "ada" in AUGMENTS else [])
        augment = c1.selectbox("GAN augmentation", policies, key="aug_policy",
                               help="The small-data augmentation of the GAN (DiffAugment policies).")
        clf_steps = c2.number_input("Classifier steps", 1, 100_000, ClassifierBudget.steps, key="aug_clf_steps")
        conditional = [r.name for r in _runs() if _conditional(r)]
        reuse = c3.selectbox("GAN", ["train one per K"] + conditional, key="aug_reuse",
                             help="Or reuse a conditional run: the lab checks how many real images it saw.")
        name = st.text_input("Lab name", "", placeholder="auglab-<data>-<time>", key="aug_name")
        submitted = st.form_submit_button("Launch lab", type="primary", icon=":material/science:",
                                          disabled=bool(not_allowed), help=not_allowed)
        if not_allowed:  # said on the page, not only in the greyed button's tooltip
            st.caption(f"Launching is greyed: {not_allowed}.")
    if not submitted:
        return
    try:
        preset = PRESETS.get(data, {})
        reuse_run = None if reuse == "train one per K" else reuse
        spec = LabSpec(name=name.strip() or RunDir.unique_name(f"auglab-{Path(data).stem}-{_stamp()}"), data=data,
                       per_class=_numbers(ks, "K"), synthetic_per_class=_numbers(ms, "M"), seeds=int(seeds),
                       resolution=preset.get("resolution", 32), channels=preset.get("channels", 3),
                       gan_minutes=float(budget) if budget_kind == "minutes" else None,
                       gan_steps=int(budget) if budget_kind == "steps" else None, gan_augment=augment,
                       reuse_run=reuse_run, classifier=ClassifierBudget(steps=int(clf_steps)).to_dict())
        if reuse_run:
            run_cfg = RunDir.open(reuse_run).config()
            spec.resolution, spec.channels = run_cfg.resolution, run_cfg.channels
        lab = launch_lab_as(me, spec)
    except (AccessError, LabError, RunError, DatasetError, ValueError, OSError) as exc:
        st.error(f"Could not launch the lab: {exc}")
        return
    st.session_state["aug_selected"] = lab.name
    st.success(f"Started lab **{lab.name}** in the background.")


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _runs() -> list[RunDir]:
    try:
        return list_runs()
    except OSError:
        return []


def _conditional(run: RunDir) -> bool:
    try:
        return run.config().conditional
    except RunError:
        return False


def show_lab(lab: Lab) -> None:
    progress = lab_progress(lab)
    state = progress["state"]
    st.markdown(f"**{lab.name}** · {progress['data']} · K = {', '.join(map(str, progress['per_class']))} · "
                f"**{state}** · {progress['steps_done']} of {progress['steps_total']} steps")
    st.progress(progress["steps_done"] / max(progress["steps_total"], 1))
    if state in ACTIVE and progress["current"]:
        st.caption(f"now: {progress['current']}")
    if progress["error"] and state not in ACTIVE:
        st.error(progress["error"])
    if state in ACTIVE and st.button("Stop lab", key=f"stop_{lab.name}", icon=":material/stop:",
                                     disabled=bool(not_allowed), help=not_allowed):
        stop_lab_as(me, lab.name)
        st.info("Stopping: the lab ends after its current step (a GAN checkpoints first). Resume it from the command "
                f"line: `python -m gan_core augment-lab --resume {lab.name} --background`.")
    summary = lab_summary(lab)
    for k, gan in summary["gan"].items():
        if gan:
            fair = "" if gan["fair"] else " — **unfair**: " + "; ".join(gan["problems"])
            st.caption(f"K = {k}: GAN `{gan['run']}` saw {gan['seen_total']} real images "
                       f"({gan['seen_max_per_class']} per class at most){fair}")
    if summary["rows"]:
        st.markdown(markdown_table(summary))
        chart = lab.path / "chart.png"
        if chart.is_file() and state == "finished":
            st.image(str(chart), caption="test accuracy, mean ± std over seeds")
        else:
            st.bar_chart({f"K={k}": {r["title"]: r["mean"] for r in summary["rows"] if r["k"] == k}
                          for k in sorted({r["k"] for r in summary["rows"]})})
    else:
        st.caption("No classifier has finished yet.")
    log = lab.path / "log.txt"
    if log.is_file():
        with st.expander("Log"):
            st.code("\n".join(log.read_text(errors="replace").splitlines()[-40:]) or "(empty)")


st.subheader("New lab")
launch_form()

st.subheader("Labs")
labs = list_labs()
if not labs:
    st.info("No labs yet. Launch one above, or from a shell: "
            "`python -m gan_core augment-lab --data fashion-mnist --per-class 10 50 200 --seeds 3`.")
else:
    names = [lab.name for lab in labs]
    selected = st.session_state.get("aug_selected")
    choice = st.selectbox("Lab", names, index=names.index(selected) if selected in names else 0, key="aug_pick")
    chosen = next(lab for lab in labs if lab.name == choice)
    active = lab_progress(chosen)["state"] in ACTIVE

    @st.fragment(run_every=env_refresh_s(3.0) if active else None)
    def live() -> None:
        show_lab(chosen)

    live()
    st.dataframe([{k: r[k] for k in ("name", "state", "steps_done", "steps_total", "data", "per_class")}
                  for r in (lab_progress(lab) for lab in labs)], hide_index=True)
