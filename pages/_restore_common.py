"""What the Inpaint and Super-resolve pages share: picking an image, loading a run, running a
method beside its baseline, captions."""
from __future__ import annotations

import streamlit as st
from PIL import Image

from gan_core import restore as R
from gan_core.data import list_datasets
from gan_core.runs.rundir import RunDir, RunError
from gan_core.inference.generators import png_bytes


@st.cache_resource(show_spinner="Loading the run's weights ...", max_entries=4)
def _load(run: str, step: int, method: str):
    return R.load_for(run, method, str(step))


def loaded_run(run: str, method: str):
    ckpt = RunDir.open(run).latest_checkpoint()
    if ckpt is None:
        raise RunError(f"run {run} has no checkpoint yet")
    return _load(run, ckpt.step, method)


def default_method(task: str) -> str:
    """A dedicated model when one is trained, else the generator prior."""
    return "model" if R.fitting_runs(task, "model") else "prior"


def pick_run(task: str, method: str, key: str, image: Image.Image | None = None,
             prefix: str = "") -> tuple[str, object]:
    """The run picker for the prior/model methods: (run name, loaded weights), or the page
    stops saying what to train first (a run type that fits, from the registry). The default
    is a run of the chosen data set at the image's size, the most trained first."""
    data = st.session_state.get(f"{prefix}_dataset") if st.session_state.get(f"{prefix}_source") != "Upload" else None
    resolution = image.width if image is not None and image.width == image.height else None
    runs = R.fitting_runs(task, method, data=data, resolution=resolution)
    if not runs:
        need = " or ".join(R.fitting_run_types(task, method))  # "No inpaint-gan run", not "No an inpaint-gan run"
        st.warning(f"No {need} run with a checkpoint yet: train one first (Train page, or "
                   f"`python -m gan_core train --model {R.fitting_run_types(task, method)[-1]} ...`).")
        st.stop()
    run = st.selectbox("Run", runs, key=key, help="The default is a run trained on the chosen data set at this "
                                                  "size, the most trained first.")
    try:
        loaded = loaded_run(run, method)
    except (RunError, ValueError) as exc:
        st.error(str(exc))
        st.stop()
    young = R.young_run_note(int(loaded.step), method)
    if young:
        st.warning(young, icon=":material/child_care:")
    return run, loaded


def verdict(result: R.RestoreResult | None, baseline: R.RestoreResult | None, original: Image.Image | None,
            baseline_label: str) -> None:
    """Say plainly whether the method beat its baseline (demo mode, where the original is known)."""
    if result is None or baseline is None or original is None:
        return
    ours, theirs = R.psnr(original, result.image), R.psnr(original, baseline.image)
    if round(ours, 1) == round(theirs, 1) or ours == theirs:  # an empty mask: both inf, "Better: inf dB against inf dB"
        st.info(f"Same as the baseline here: {_db(ours)} (PSNR)" + (" — nothing was missing, so both return the "
                "image as it is" if ours == float("inf") else "."), icon=":material/drag_handle:")
    elif ours < theirs:
        st.warning(f"**Worse than the baseline here:** {ours:.1f} dB against {baseline_label}'s {theirs:.1f} dB "
                   "(PSNR, higher is better). Prefer the baseline's result for this image, or train the run longer.",
                   icon=":material/trending_down:")
    else:
        st.success(f"Better than the baseline: {ours:.1f} dB against {baseline_label}'s {theirs:.1f} dB (PSNR).",
                   icon=":material/trending_up:")


def _db(psnr: float) -> str:
    return "identical to the original" if psnr == float("inf") else f"{psnr:.1f} dB"


def pick_image(prefix: str) -> tuple[Image.Image | None, str]:
    """A held-out data-set image or an upload, and a name for it (widget keys start with ``prefix``)."""
    source = st.radio("Image", ["Data set image", "Upload"], horizontal=True, key=f"{prefix}_source")
    if source == "Upload":
        up = st.file_uploader("An image (PNG, JPEG ...)", type=[s.lstrip(".") for s in R.IMAGE_SUFFIXES], key=f"{prefix}_upload")
        if up is None:
            return None, ""
        try:
            image = R.open_image(up)
        except R.RestoreError as exc:
            st.error(str(exc))
            return None, ""
        image, reduced = R.fit_pixels(image)
        if reduced:
            st.info(f"The upload was {reduced}.")
        return image, up.name
    sets = [d.name for d in list_datasets() if d.available]
    if not sets:
        st.info("No data set is available: upload an image instead.")
        return None, ""
    c1, c2 = st.columns([2, 1])
    name = c1.selectbox("Data set (held-out images)", sets, key=f"{prefix}_dataset")
    index = c2.number_input("Image index", 0, R.DEMO_IMAGES - 1, 0, key=f"{prefix}_index")
    try:
        return R.dataset_image(name, int(index)), f"{name}-{index}"
    except Exception as exc:  # noqa: BLE001 - a set that fails to load is shown, not raised
        st.error(f"Could not load {name}: {exc}")
        return None, ""


def prior_settings(prefix: str, loaded, default_steps: int) -> dict:
    """The generator-prior search's knobs (steps, restarts, seed, class), as keyword arguments."""
    c1, c2, c3 = st.columns(3)
    settings = {"steps": int(c1.number_input("Steps", 1, 5000, default_steps, key=f"{prefix}_steps")),
                "restarts": int(c2.number_input("Restarts", 1, 256, 8, key=f"{prefix}_restarts")),
                "seed": int(c3.number_input("Seed", 0, 1_000_000, 0, key=f"{prefix}_seed"))}
    if loaded.conditional:
        choice = st.selectbox("Class", ["try all"] + loaded.classes, key=f"{prefix}_class")
        settings["class_index"] = None if choice == "try all" else loaded.classes.index(choice)
    return settings


def run_beside_baseline(state_key: str, key: tuple, verb: str, restore, baseline) -> None:
    """``restore(progress)`` under a progress bar, then ``baseline()`` (None when the method is
    the baseline); both results, or their errors, are kept in the session under ``state_key``
    with the inputs' ``key``, so the page shows them until an input changes."""
    bar = st.progress(0.0, text=f"{verb} ...")
    try:
        result, error = restore(lambda f: bar.progress(f, text=f"{verb} ... {f:.0%}")), None
    except (R.RestoreError, ValueError) as exc:
        result, error = None, str(exc)
    try:
        base, base_error = baseline(), None
    except R.RestoreError as exc:
        base, base_error = None, str(exc)
    bar.empty()
    st.session_state[state_key] = {"key": key, "result": result, "error": error, "baseline": base,
                                   "baseline_error": base_error}


def result_tools(prefix: str, before: Image.Image, result: R.RestoreResult, method: str, file_name: str) -> None:
    """Below a result: a before/after wipe, the method's details and a PNG download."""
    position = st.slider("Before / after (result left of the line)", 0.0, 1.0, 0.5, key=f"{prefix}_wipe")
    st.image(R.wipe(R.enlarge(before, 256), R.enlarge(result.image, 256), position), width=256)
    if result.info:
        with st.expander("Details"):
            st.json(dict(result.info))
    st.download_button("Download result (PNG)", png_bytes(result.image, {"software": "GAN Studio", "method": method}),
                       file_name=file_name, mime="image/png", key=f"{prefix}_download")


def caption(label: str, result: R.RestoreResult | None, original: Image.Image | None) -> str:
    if result is None:
        return label
    text = f"{label} · {result.seconds:.2f}s"
    if original is not None:
        text += f" · PSNR {R.psnr(original, result.image):.2f} dB · SSIM {R.ssim(original, result.image):.3f}"
    return text
