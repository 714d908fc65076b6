"""Inpaint: fill a masked hole with a trained generator (prior), an inpaint-gan run (model),
or the biharmonic baseline; demo mode scores each against the original."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
from PIL import Image  # noqa: E402

from gan_core.data import masks  # noqa: E402
from gan_core import restore as R  # noqa: E402
from ui.common import page_setup  # noqa: E402
from pages._restore_common import (caption, default_method, pick_image, pick_run, prior_settings, result_tools,  # noqa: E402
                                   run_beside_baseline, verdict)

PREFIX = "ip"
METHOD_LABELS = {"prior": "Generator prior (latent optimisation)", "model": "Inpainting model (inpaint-gan run)",
                 "biharmonic": "Biharmonic (baseline)"}


def _draw_mask(image: Image.Image) -> Image.Image | None:
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:  # noqa: BLE001 - the component is optional
        st.info(f"The drawing canvas is not available here ({type(exc).__name__}); use a preset mask.")
        return None
    brush = st.slider("Brush size", 4, 60, 20, key="ip_brush")
    side = 256
    result = st_canvas(stroke_width=brush, stroke_color="#ffffff", background_image=image.convert("RGB").resize((side, side), Image.Resampling.NEAREST),
                       height=side, width=side, drawing_mode="freedraw", return_image_data=True, key="ip_canvas")
    try:
        data = result.image_data
    except Exception:  # noqa: BLE001 - nothing drawn yet
        data = None
    if data is None:
        return Image.new("L", image.size, 0)
    data = np.asarray(data)
    alpha = data[..., 3] if data.ndim == 3 and data.shape[2] == 4 else data[..., 0]  # strokes are opaque
    drawn = Image.fromarray(((alpha > 0) * 255).astype(np.uint8), "L")
    return masks.mask_to_pil(R.resize_mask(masks.mask_from_pil(drawn), image.size))


def _pick_mask(image: Image.Image) -> Image.Image:
    how = st.radio("Mask (white = missing)", ["Preset", "Draw"], horizontal=True, key="ip_mask_mode")
    if how == "Draw":
        drawn = _draw_mask(image)
        if drawn is not None:
            return drawn
    c1, c2 = st.columns([2, 1])
    name = c1.selectbox("Preset", masks.PRESETS, key="ip_preset")
    seed = c2.number_input("Stroke seed", 0, 10_000, 0, key="ip_mask_seed", disabled=name != "random strokes")
    return masks.preset(name, image.size, int(seed))


page_setup("Inpaint")
st.title("Inpaint")
st.caption("Fill a hole with what was trained. Pick an image and a mask, choose a method, run. "
           "Demo mode paints the hole grey first and scores every method against the original.")

image, image_name = pick_image(PREFIX)
if image is None:
    st.stop()
mask = _pick_mask(image)
demo = st.checkbox("Demo mode (score against the original)", value=st.session_state.get("ip_source", "Data set image") != "Upload", key="ip_demo")
if demo:
    degraded, mask = R.degrade_for_demo(image, "inpaint", mask=mask)
else:
    degraded = image

method = st.radio("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="ip_method", horizontal=True,
                  index=list(METHOD_LABELS).index(default_method("inpaint")))
loaded = None
settings: dict = {}
if method != "biharmonic":
    run, loaded = pick_run("inpaint", method, "ip_run", image, PREFIX)
    if method == "prior":
        settings = prior_settings("ip", loaded, default_steps=150)
        settings["blend"] = st.selectbox("Blending", ["poisson", "feather", "paste"], key="ip_blend")

mask_bytes = np.asarray(mask.convert("L")).tobytes()
key = (image_name, image.tobytes(), mask_bytes, demo, method, loaded.source if loaded else None,
       loaded.step if loaded else None, tuple(sorted(settings.items())))
if st.button("Run", type="primary", key="ip_run_button"):
    run_beside_baseline("ip_result", key, "Restoring",
                        lambda progress: R.inpaint(degraded, mask, method, loaded, progress=progress, **settings),
                        lambda: R.inpaint(degraded, mask, "biharmonic") if method != "biharmonic" else None)

state = st.session_state.get("ip_result")
if state is None or state["key"] != key:
    cols = st.columns(2)
    cols[0].image(R.enlarge(degraded), caption="Input", width=192)
    cols[1].image(R.enlarge(mask), caption="Mask", width=192)
    st.stop()

original = image if demo else None
result, baseline = state["result"], state["baseline"]
cols = st.columns(4 if demo else 3)
cols[0].image(R.enlarge(degraded), caption="Input (hole painted grey)" if demo else "Input", width=192)
if method == "biharmonic":
    cols[1].image(R.enlarge(mask), caption="Mask", width=192)
elif baseline is not None:
    cols[1].image(R.enlarge(baseline.image), caption=caption("Biharmonic (baseline)", baseline, original), width=192)
else:
    cols[1].info(f"Baseline: {state['baseline_error']}")
if result is not None:
    cols[2].image(R.enlarge(result.image), caption=caption(METHOD_LABELS[method], result, original), width=192)
else:
    cols[2].error(state["error"])
if demo:
    cols[3].image(R.enlarge(image), caption="Original", width=192)
    verdict(result, baseline, original, "biharmonic")
if result is not None:
    result_tools("ip", degraded, result, method, f"inpainted-{method}-{image_name or 'image'}.png")
