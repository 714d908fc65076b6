"""Super-resolve: raise an image's resolution with a trained generator (PULSE-style prior),
an srgan run (model), or Pillow's bicubic / Lanczos; demo mode downscales a held-out image
first and scores each method against the original."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from gan_core import restore as R  # noqa: E402
from ui.common import page_setup  # noqa: E402
from pages._restore_common import (caption, default_method, pick_image, pick_run, prior_settings, result_tools,  # noqa: E402
                                   run_beside_baseline, verdict)

PREFIX = "sr"
METHOD_LABELS = {"prior": "Generator prior (PULSE latent search)", "model": "SR model (srgan run)",
                 "bicubic": "Bicubic (baseline)", "lanczos": "Lanczos (baseline)"}


page_setup("Super-resolve")
st.title("Super-resolve")
st.caption("Raise the resolution with what was trained. Demo mode downscales a held-out image first "
           "(antialiased bicubic) and scores every method against the original.")

image, image_name = pick_image(PREFIX)
if image is None:
    st.stop()
scale = st.radio("Scale", [4, 2], format_func=lambda s: f"x{s}", horizontal=True, key="sr_scale")
demo = st.checkbox("Demo mode (downscale first, score against the original)",
                   value=st.session_state.get("sr_source", "Data set image") != "Upload", key="sr_demo")
low = R.degrade_for_demo(image, "superres", scale=scale)[0] if demo else image
low, reduced = R.fit_pixels(low, R.MAX_OUTPUT_PIXELS // scale**2)  # the result's size is bounded
if reduced:
    st.info(f"The input was {reduced}, so the x{scale} result stays under {R.MAX_OUTPUT_PIXELS:,} pixels.")

method = st.radio("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="sr_method", horizontal=True,
                  index=list(METHOD_LABELS).index(default_method("superres")))
loaded = None
settings: dict = {}
if method in ("prior", "model"):
    run, loaded = pick_run("superres", method, "sr_run", image, PREFIX)
    if method == "model" and loaded.config.scale != scale:
        st.info(f"Run {run} was trained for x{loaded.config.scale}; its output is resized to x{scale}.")
    if method == "prior":
        settings = prior_settings("sr", loaded, default_steps=100)

key = (image_name, image.tobytes(), scale, demo, method, loaded.source if loaded else None,
       loaded.step if loaded else None, tuple(sorted(settings.items())))
if st.button("Run", type="primary", key="sr_run_button"):
    run_beside_baseline("sr_result", key, "Upscaling",
                        lambda progress: R.superres(low, scale, method, loaded, progress=progress, **settings),
                        lambda: R.superres(low, scale, "bicubic") if method != "bicubic" else None)

state = st.session_state.get("sr_result")
shown = R.enlarge(low, 192)
if state is None or state["key"] != key:
    st.image(shown, caption=f"Input {low.size[0]}x{low.size[1]}" + (" (downscaled original)" if demo else ""), width=192)
    st.stop()

original = image if demo else None
result, baseline = state["result"], state["baseline"]
cols = st.columns(4 if demo else 3)
cols[0].image(shown, caption=f"Input {low.size[0]}x{low.size[1]}", width=192)
if baseline is not None:
    cols[1].image(R.enlarge(baseline.image), caption=caption("Bicubic (baseline)", baseline, original), width=192)
elif state["baseline_error"]:
    cols[1].info(f"Baseline: {state['baseline_error']}")
else:
    cols[1].caption("The result is the baseline.")
if result is not None:
    cols[2].image(R.enlarge(result.image), caption=caption(METHOD_LABELS[method], result, original), width=192)
else:
    cols[2].error(state["error"])
if demo:
    cols[3].image(R.enlarge(image), caption=f"Original {image.size[0]}x{image.size[1]}", width=192)
    verdict(result, baseline, original, "bicubic")
if result is not None:
    result_tools("sr", low, result, method, f"superres-x{scale}-{method}-{image_name or 'image'}.png")
