"""Translate: draw (or pick, or upload) an image and a pix2pix or CycleGAN run paints its
translation beside it as you draw; batch-translate uploads into a ZIP with provenance."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
from PIL import Image  # noqa: E402

from gan_core.inference.generators import to_pil  # noqa: E402
from gan_core.inference.translate import (  # noqa: E402
    TranslateError,
    decode_input,
    held_out_example,
    load_translator,
    translate_to_zip,
)
from gan_core.runs.rundir import CheckpointError, RunError, checkpoints_root  # noqa: E402
from gan_core.runtypes.registry import of_kind  # noqa: E402
from ui.common import page_link, page_setup, runs_safe  # noqa: E402

page_setup("Translate")
st.title("Translate")
st.caption("Image in, image out. A pix2pix run turns an outline (or a grey, blurred or holed image) into a "
           "picture; a CycleGAN run turns one kind of image into another and back. Draw on the canvas and "
           "the output follows every stroke.")

SHOW = 192  # px on screen for every image


@st.cache_resource(max_entries=4, show_spinner="Loading the generator …")
def cached_translator(root: str, run: str, weights: str, mtime: float):
    """Loaded translators, keyed by run and checkpoint file (and its mtime): a redraw costs one
    forward pass (~25 ms at 32 px on one CPU thread), not a checkpoint load."""
    return load_translator(run, weights, root=Path(root))


def big(image: Image.Image) -> Image.Image:
    return image.resize((SHOW, SHOW), Image.Resampling.NEAREST)


def is_translation(run) -> bool:
    try:
        return bool(run.checkpoints()) and run.config().model in of_kind("translation")
    except RunError:  # a run folder without a readable config is listed on Home, not here
        return False


runs = [r for r in runs_safe() if is_translation(r)]
if not runs:
    st.info("**No translation run with a checkpoint yet.** Train one on **Train** (model pix2pix or cyclegan), "
            "or run `python -m gan_core train --model pix2pix --data fashion-mnist`.", icon=":material/swap_horiz:")
    page_link("train", "Go to Train", icon=":material/model_training:")
    st.stop()

names = [r.name for r in runs]
wanted = st.session_state.pop("translate_run", None)  # sent here by Monitor or Generate with this run
if wanted in names:
    st.session_state["tr_run"] = wanted
top = st.columns([1.6, 1.2])
run_name = top[0].selectbox("Run", names, key="tr_run")
run = next(r for r in runs if r.name == run_name)
cfg, ckpt = run.config(), run.latest_checkpoint()
try:
    translator = cached_translator(str(checkpoints_root()), run_name, str(ckpt.weights), ckpt.weights.stat().st_mtime)
except (TranslateError, CheckpointError, RunError, OSError) as exc:
    st.error(f"Could not load this run: {exc}")
    st.stop()

reverse = False
if translator.model == "cyclegan":
    # a folder domain by its name only: the full path is a server path, not for visitors' eyes
    a_name, b_name = (Path(d).name if "/" in d else d for d in (cfg.domain_a, cfg.domain_b))
    if a_name == b_name:  # two folders of one name: only their paths tell them apart
        a_name, b_name = cfg.domain_a, cfg.domain_b
    directions = [f"{a_name} → {b_name}", f"{b_name} → {a_name}"]
    # By position, not by text: with folders "cats-cartoon" and "cats" both labels start with B's
    # name, and a prefix test made both directions B -> A.
    direction = top[1].radio("Direction", directions, horizontal=True, key="tr_direction")
    reverse = directions.index(direction) == 1
else:
    top[1].markdown(f"<span class='studio-badge'>pix2pix · {cfg.paired_transform} → image · step {ckpt.step:,}"
                    "</span>", unsafe_allow_html=True)

source = st.radio("Input", ["Draw", "Data set image", "Upload", "Batch (several files)"], horizontal=True,
                  key="tr_source")


def drawing_to_restore():
    """The drawing to open the canvas with: the last one when the canvas comes back (Streamlit
    drops a widget's state on a run that does not draw it, and a look at "Data set image"
    emptied the canvas). Fixed while the canvas stays, so its undo history is not reset."""
    if "tr_canvas" not in st.session_state:  # (re)created on this run
        st.session_state["tr_canvas_start"] = st.session_state.get("tr_drawing")
    return st.session_state.get("tr_canvas_start")


def drawn_input():
    """The canvas's drawing as a model input (None when the component is missing)."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:  # noqa: BLE001 - the component is optional
        st.info(f"The drawing canvas is not available here ({type(exc).__name__}); pick or upload an image.")
        return None
    c1, c2 = st.columns(2)
    tool = c1.radio("Tool", ["Brush", "Eraser"], horizontal=True, key="tr_tool",
                    help="The eraser paints white paper; the canvas toolbar has undo, redo and clear.")
    width = c2.slider("Brush size", 2, 40, 8, key="tr_brush")
    # The canvas's toolbar rises 2.65rem (42 px) above it while the pointer is on the canvas and
    # lay over "Eraser": going from a stroke to the eraser clicked the toolbar. Room for it:
    st.space(28)
    result = st_canvas(stroke_width=width if tool == "Brush" else width * 2,
                       stroke_color="#000000" if tool == "Brush" else "#ffffff", background_color="#ffffff",
                       height=256, width=256, drawing_mode="freedraw", initial_drawing=drawing_to_restore(),
                       return_image_data=True, key="tr_canvas")
    st.session_state["tr_drawing"] = result.json_data  # kept while another input is shown
    try:
        data = result.image_data
    except Exception:  # noqa: BLE001 - nothing drawn yet (no component value)
        data = None
    if data is None:  # a restored canvas shows its drawing but sends no pixels until the next stroke
        data = st.session_state.get("tr_pixels")
    st.session_state["tr_pixels"] = data
    drawing = Image.new("RGBA", (256, 256), (0, 0, 0, 0)) if data is None else Image.fromarray(
        np.asarray(data, dtype=np.uint8), "RGBA")
    return translator.prepare_drawing(drawing, reverse)


target = None
if source == "Batch (several files)":
    ups = st.file_uploader("Images (PNG, JPEG …)", accept_multiple_files=True, key="tr_batch")
    made_by = (run_name, str(ckpt.weights), reverse)
    if ups and st.button("Translate all", type="primary", icon=":material/swap_horiz:", key="tr_batch_go"):
        try:
            archive, written, skipped = translate_to_zip(translator, [(u.name, u.getvalue()) for u in ups], reverse)
        except TranslateError as exc:
            st.error(str(exc))
        else:
            st.session_state["tr_zip"] = (made_by, archive, len(written), skipped)
    # Only the ZIP of this run, checkpoint and direction: kept whatever the pick, another run's
    # ZIP was offered under this run's name (its PNGs said the other run).
    kept = st.session_state.get("tr_zip")
    if kept and kept[0] == made_by:
        _, archive, count, skipped = kept
        if count:
            st.success(f"Translated {count} image{'s' if count != 1 else ''}; each PNG carries its source file, "
                       "run, step and direction.")
        else:  # (was a green "Translated 0 images" and an empty ZIP to download)
            st.error("None of these files could be read as an image: nothing to download.")
        for name, reason in skipped:
            st.warning(f"Skipped {name}: {reason}")
        if count:
            st.download_button("Download ZIP", archive, file_name=f"{run_name}-translated.zip",
                               mime="application/zip", icon=":material/download:", key="tr_zip_download")
    st.stop()

if source == "Draw":
    x = drawn_input()
elif source == "Data set image":
    index = st.number_input("Held-out image", 0, 999, 0, key="tr_index")
    try:
        x, target = held_out_example(cfg, int(index), reverse)
    except TranslateError as exc:
        st.error(str(exc))
        st.stop()
else:
    up = st.file_uploader("An image (PNG, JPEG …)", key="tr_upload")
    x = None
    if up is not None:
        try:
            x = translator.prepare(decode_input(up.getvalue(), up.name, translator.paper), reverse)
        except TranslateError as exc:
            st.error(str(exc))
if x is None:
    st.stop()

out = translator.translate(x, reverse)
cols = st.columns(4)
cols[0].image(big(to_pil(x[0])), caption="Input (what the model sees)", width=SHOW)
cols[1].image(big(to_pil(out[0])), caption="Translation", width=SHOW)
if translator.model == "cyclegan":
    back = translator.translate(out, not reverse)
    cols[2].image(big(to_pil(back[0])), caption="And back again", width=SHOW)
elif target is not None:
    cols[2].image(big(to_pil(target[0])), caption="The real image", width=SHOW)
st.caption(f"{run_name} · step {ckpt.step:,} · {translator.resolution} px")
