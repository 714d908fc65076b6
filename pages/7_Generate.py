"""Generate: samples from a trained run, by seed and class, interpolations, and synthetic data sets."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from gan_core.data import list_datasets  # noqa: E402
from gan_core.access.ownership import record_dataset_owner, record_run_owner  # noqa: E402
from gan_core.data.importer import DatasetError, data_root, validate_name  # noqa: E402
from gan_core.runs.rundir import CheckpointError, RunDir, RunError, checkpoints_root  # noqa: E402
from gan_core.inference.generators import (class_from_text, class_labels, generate, import_checkpoint,  # noqa: E402
                                           interpolate, is_style_based, load_generator,
                                           png_bytes, provenance, style_mix, to_pil)
from gan_core.inference.export import export_synthetic  # noqa: E402
from gan_core.metrics.quality import checkpoint_scores  # noqa: E402
from gan_core.runtypes.registry import kind_of  # noqa: E402
from gan_core.video.clips import clip_to_gif_bytes, generate_clips  # noqa: E402
from ui.media import folder_zip_bytes, gif_bytes, upscale, zip_bytes  # noqa: E402
from ui.runs_table import checkpoint_choices  # noqa: E402
from ui.common import go, open_run, page_link, page_setup, runs_safe, where  # noqa: E402
from ui.quick_start import quick_start  # noqa: E402

me = page_setup("Generate")
st.title("Generate")


@st.cache_resource(max_entries=6, show_spinner="Loading the generator …")
def cached_generator(root: str, run: str, checkpoint: str, weights_path: str, mtime: float, ema: bool):
    """Loaded generators, keyed by run, checkpoint file (and its mtime) and EMA/raw."""
    return load_generator(run, checkpoint, ema=ema, device="cpu", root=Path(root))


with st.expander("Use a checkpoint from elsewhere", icon=":material/upload_file:"):
    st.caption("A GAN Studio `.safetensors` checkpoint (a colleague's, a download). It is read without running "
               "any code from the file, checked against its own config, and added as a run named below.")
    with st.form("import_ckpt", clear_on_submit=True):
        upload = st.file_uploader("Checkpoint file", type=["safetensors", "pt", "pth"], key="ckpt_upload")
        import_name = st.text_input("Run name", value="imported", key="ckpt_import_name")
        if st.form_submit_button("Add as a run", icon=":material/add:") and upload is not None:
            with tempfile.TemporaryDirectory(prefix="gan-ckpt-") as tmp:
                path = Path(tmp) / Path(upload.name).name
                path.write_bytes(upload.getvalue())
                try:
                    new_run = import_checkpoint(path, RunDir.unique_name(import_name))
                    record_run_owner(new_run, me)
                except (CheckpointError, RunError) as exc:
                    st.error(f"Not added: {exc}")
                else:
                    st.session_state["generate_run"] = new_run.name
                    st.success(f"Added **{new_run.name}** (step {new_run.latest_checkpoint().step}).")

runs = [r for r in runs_safe() if r.checkpoints()]
if not runs:
    st.info("**Nothing to generate from yet.** A run needs at least one checkpoint (written every "
            "`checkpoint_every` steps and when it stops). Start one on **Train**, or press **Quick start** on Home.",
            icon=":material/auto_awesome:")
    page_link("train", "Go to Train", icon=":material/model_training:")
    st.stop()


def generates_from_noise(run: RunDir) -> bool:
    try:
        return run.config().run_type.sample is not None  # (None: it restores or translates)
    except (RunError, ValueError):
        return False


names = [r.name for r in runs]
wanted = st.session_state.pop("generate_run", None)
if wanted in names:
    st.session_state["gen_run"] = wanted
if st.session_state.get("gen_run") not in names:  # the newest run this page can sample, not a newer pix2pix
    st.session_state["gen_run"] = next((r.name for r in runs if generates_from_noise(r)), names[0])

top = st.columns([1.6, 1.2, 0.8])
run_name = top[0].selectbox("Run", names, key="gen_run")
run = open_run(run_name)
try:
    cfg = run.config()
except RunError as exc:
    st.error(str(exc))
    st.stop()

if kind_of(cfg.model) == "translation":
    st.info(f"**{run_name}** is a {cfg.model} model: it turns images into images, not noise into images. "
            "Use it on the **Translate** page.", icon=":material/swap_horiz:")
    if st.button("Go to Translate", icon=":material/swap_horiz:", key="gen_to_translate"):
        go("translate", translate_run=run_name)  # with this run, not the first one there
    st.stop()

if kind_of(cfg.model) == "restoration":
    superres = cfg.run_type.restores == "superres"
    st.info(f"**{run_name}** is a {'super-resolution' if superres else 'inpainting'} model: "
            f"use it on the **{'Super-resolve' if superres else 'Inpaint'}** page.",
            icon=":material/healing:")
    st.stop()

choices = checkpoint_choices(run)
labels = dict((v, label) for label, v in reversed(choices))
ckpt_value = top[1].selectbox("Checkpoint", [v for _, v in choices], format_func=lambda v: labels.get(v, v),
                              key=f"gen_ckpt_{run_name}")
ckpt = next((c for c in run.checkpoints() if str(c.step) == ckpt_value), None) or \
    (run.best_checkpoint() if ckpt_value == "best" else run.latest_checkpoint())
has_ema = bool(ckpt.meta.get("has_ema", cfg.ema))
use_ema = top[2].toggle("EMA weights", value=has_ema, disabled=not has_ema, key=f"gen_ema_{run_name}",
                        help="The exponential moving average of G's weights: usually smoother, cleaner images.")
try:
    loaded = cached_generator(str(checkpoints_root()), run_name, ckpt_value, str(ckpt.weights),
                              ckpt.weights.stat().st_mtime, bool(use_ema and has_ema))
except (CheckpointError, RunError, OSError, ValueError) as exc:
    st.error(f"Could not load this checkpoint: {exc}")
    st.stop()

scores = checkpoint_scores(run, loaded.step)
facts = (f"{cfg.model}{' · conditional' if loaded.conditional else ''} · trained on **{cfg.data}** at "
         f"{cfg.resolution} px · step {loaded.step:,} · {loaded.weights} weights")
if scores:
    parts = [f"FID {scores['fid']:.1f}" if scores.get("fid") is not None else None,
             f"KID {scores['kid_mean']:.4f}" if scores.get("kid_mean") is not None else None,
             f"precision {scores['precision']:.2f}" if scores.get("precision") is not None else None,
             f"recall {scores['recall']:.2f}" if scores.get("recall") is not None else None]
    facts += f"  \nScores ({scores.get('feature_space', 'features')}): " + " · ".join(p for p in parts if p)
st.caption(facts)

# ---- controls ---------------------------------------------------------------------------
c = st.columns([1, 1.4, 1.2, 1.6])
seed = int(c[0].number_input("First seed", 0, 2**31 - 1, 0, key="gen_seed",
                             help="Image i uses seed + i; the same seed always gives the same image."))
n = c[1].slider("Images", 1, 64, 16, key="gen_n")
style_based = is_style_based(loaded)
if style_based:  # StyleGAN: psi pulls w toward the average w (0 = the one mean image)
    trunc_on = c[2].toggle("Truncation ψ", value=False, key="gen_psi_on",
                           help="Pull each image's w toward the average w: 1 = none, 0 = the mean image for "
                                "every seed. Around 0.7 gives cleaner, more typical images.")
    truncation = c[2].slider("ψ", 0.0, 1.0, 0.7, 0.05, key="gen_psi", disabled=not trunc_on,
                             label_visibility="collapsed")
else:
    trunc_on = c[2].toggle("Truncation", value=False, key="gen_trunc_on",
                           help="Redraw latent values beyond ±T: cleaner, more typical images, less variety.")
    truncation = c[2].slider("T", 0.3, 2.0, 1.0, 0.1, key="gen_trunc", disabled=not trunc_on,
                             label_visibility="collapsed")
truncation = float(truncation) if trunc_on else None

class_index: int | None = None
if loaded.conditional:
    with c[3]:
        examples = ", ".join(name.split(" & ")[0].lower() for name in loaded.classes[:3])
        text = st.text_input("Describe it", placeholder=f"e.g. {examples}", key="gen_text",
                             help="A few words: matched to a class by name, plural or everyday synonym.")
        options = ["Every class in turn"] + loaded.classes
        picked = st.selectbox("Class", options, key="gen_class")
    if text.strip():
        class_index = class_from_text(text, loaded.classes)
        if class_index is None:
            st.warning(f"No class matches “{text}”. Classes: {', '.join(loaded.classes)}.")
        else:
            st.markdown(f"“{text}” → **{loaded.classes[class_index]}**")
    if class_index is None and picked != options[0]:
        class_index = loaded.classes.index(picked)
elif cfg.conditional is False:
    with c[3]:
        has_classes = bool(next((d.classes for d in list_datasets() if d.name == cfg.data), None))
        if has_classes:
            st.caption(f"Unconditional model: it picks the class itself. To choose a class or describe it in a few "
                       f"words, train a class-conditional run on {cfg.data}:")
            if st.button(f"Train {cfg.data} with class & text control", icon=":material/text_fields:",
                         key="gen_conditional_start", help="Starts the default recipe, class-conditional, in the "
                                                           "background and opens Monitor."):
                quick_start(cfg.data, conditional=True)
        else:
            st.caption(f"Unconditional model: {cfg.data} has no classes (no class folders), so the model picks "
                       "what to draw itself.")

seeds = list(range(seed, seed + n))
is_video = kind_of(cfg.model) == "video"
labels_t = class_labels(loaded, n, class_index)
t0 = time.perf_counter()
if is_video:
    clips = generate_clips(loaded, seeds, class_index, truncation)
    images = clips[:, 0]
else:
    images = generate(loaded, seeds, truncation=truncation, labels=labels_t)
elapsed_ms = (time.perf_counter() - t0) * 1000


def label_of(i: int) -> int | None:
    return int(labels_t[i]) if labels_t is not None else None


pils = [to_pil(im) for im in images]
display = 112  # eight to a row in the wide layout
captions = [f"seed {s}" + (f" · {loaded.classes[label_of(i)]}" if label_of(i) is not None else "")
            for i, s in enumerate(seeds)]
st.markdown(f"**{n} {'clip' if is_video else 'image'}{'s' if n > 1 else ''} in {elapsed_ms:,.0f} ms** "
            f"<span class='studio-caption'>· seeds {seeds[0]}–{seeds[-1]}"
            f"{f' · truncation {truncation:g}' if truncation is not None else ''}</span>", unsafe_allow_html=True)
if is_video:
    gifs = [clip_to_gif_bytes(clips[i], scale=max(1, 96 // cfg.resolution)) for i in range(n)]
    st.image(gifs, caption=captions, width=display)
else:
    st.image([upscale(p, display) for p in pils], caption=captions, width=display)

files = {f"{s:06d}" + (f"_class{label_of(i)}" if label_of(i) is not None else "") + ".png":
         png_bytes(p, provenance(loaded, s, label_of(i), truncation="none" if truncation is None else truncation))
         for i, (s, p) in enumerate(zip(seeds, pils))}
d1, d2 = st.columns([1, 4])
d1.download_button("Download ZIP", zip_bytes(files), file_name=f"{run_name}-step{loaded.step}-seeds{seeds[0]}-{seeds[-1]}.zip",
                   mime="application/zip", icon=":material/folder_zip:", key="dl_zip",
                   help="Each PNG carries provenance text chunks: synthetic, model, run, step, seed, time.")

tab_one, tab_interp, tab_export, tab_mix = st.tabs([":material/zoom_in: One seed, larger",
                                                    ":material/animation: Interpolate",
                                                    ":material/dataset: Export a synthetic data set",
                                                    ":material/blender: Style mixing"])
with tab_one:
    o1, o2 = st.columns([1, 2], gap="large")
    with o1:
        one = int(st.number_input("Seed", 0, 2**31 - 1, seeds[0], key="gen_one_seed",
                                  help="Type the seed shown under any image of the grid (or any other): "
                                       "it regenerates that image alone, larger."))
    i = seeds.index(one) if one in seeds else None
    label_one = label_of(i) if i is not None else class_index
    single = generate(loaded, [one], class_index=label_one, truncation=truncation)[0] if not is_video else None
    with o2:
        if is_video:
            clip = generate_clips(loaded, [one], label_one, truncation)[0]
            gif = clip_to_gif_bytes(clip, scale=max(1, 256 // cfg.resolution))
            st.image(gif, caption=f"seed {one}", width=320)
            st.download_button("Download GIF", gif, file_name=f"{run_name}-seed{one}.gif", mime="image/gif",
                               key="dl_one_gif")
        else:
            pil = to_pil(single)
            st.image(upscale(pil, 320), caption=f"seed {one}" + (f" · {loaded.classes[label_one]}"
                                                                 if label_one is not None and loaded.classes else ""),
                     width=320)
            st.download_button("Download PNG", png_bytes(pil, provenance(loaded, one, label_one,
                                                                         truncation="none" if truncation is None else truncation)),
                               file_name=f"{run_name}-seed{one}.png", mime="image/png", icon=":material/download:",
                               key="dl_one_png")

with tab_interp:
    i1, i2, i3 = st.columns([1, 1, 1])
    seed_a = int(i1.number_input("From seed", 0, 2**31 - 1, seeds[0], key="interp_a"))
    seed_b = int(i2.number_input("To seed", 0, 2**31 - 1, seeds[min(1, n - 1)] if n > 1 else seeds[0] + 1, key="interp_b"))
    frames = i3.slider("Frames", 8, 48, 24, key="interp_frames")
    if st.button("Make the GIF", icon=":material/animation:", key="interp_go", disabled=is_video):
        out = interpolate(loaded, seed_a, seed_b, frames, class_index, truncation)
        st.session_state["interp_gif"] = (gif_bytes([upscale(to_pil(x), 256) for x in out], fps=12),
                                          seed_a, seed_b)
    if is_video:
        st.caption("Interpolation is for image models.")
    if st.session_state.get("interp_gif"):
        gif, a, b = st.session_state["interp_gif"]
        st.image(gif, caption=f"seed {a} → seed {b} ({'linear interpolation in W' if style_based else 'spherical interpolation in z'})",
                 width=256)
        st.download_button("Download GIF", gif, file_name=f"{run_name}-interp-{a}-{b}.gif", mime="image/gif",
                           icon=":material/download:", key="dl_gif")

with tab_export:
    st.markdown("Write **N images per class** into a folder layout ready to train a classifier "
                f"({where(me, data_root() / '<name>/<class>/*.png', 'one folder per class')}). The set also appears on **Data** and can be trained on. "
                "Every PNG carries its provenance (synthetic, model, run, step, seed, time).")
    e1, e2, e3 = st.columns([1.4, 1, 1])
    # Keyed per run: one key for every run kept the first run's name after a switch (issue #16).
    export_name = e1.text_input("Data set name", value=f"synthetic-{run_name}"[:64], key=f"export_name_{run_name}")
    per_class = int(e2.number_input("Images per class" if loaded.conditional else "Images", 1, 20_000, 100,
                                    key="export_n"))
    e3.markdown("&nbsp;")
    go_export = e3.button("Export", type="primary", icon=":material/dataset:", key="export_go", disabled=is_video)
    if is_video:
        st.caption("A synthetic data set is for image models: download this run's clips as GIFs above.")
    if go_export:
        try:
            validate_name(export_name)
            bar = st.progress(0.0, text="Generating …")
            folder, count = export_synthetic(loaded, export_name, per_class, seed=seed, truncation=truncation,
                                             progress=lambda d, t: bar.progress(d / t, text=f"{d:,} / {t:,} images"))
            record_dataset_owner(export_name, me)
        except (DatasetError, ValueError, OSError) as exc:
            st.error(str(exc))
        else:
            st.session_state["export_done"] = (str(folder), count)
    done = st.session_state.get("export_done")
    if done:
        folder, count = done
        st.success(f"Wrote {count:,} images to {where(me, Path(folder), 'the data set ' + Path(folder).name)}.")
        if Path(folder).is_dir():
            st.download_button("Download as ZIP", folder_zip_bytes(Path(folder)), file_name=f"{Path(folder).name}.zip",
                               mime="application/zip", icon=":material/folder_zip:", key="dl_export")

with tab_mix:
    if not style_based:
        st.caption("Style mixing needs a StyleGAN2 run (`--model stylegan2`): its generator takes one style per layer.")
    else:
        num_ws = loaded.G.num_ws
        m1, m2, m3 = st.columns([1, 1, 1.4])
        mix_a = int(m1.number_input("Layout from seed A", 0, 2**31 - 1, seeds[0], key="mix_a"))
        mix_b = int(m2.number_input("Colours and details from seed B", 0, 2**31 - 1,
                                    seeds[min(1, n - 1)] if n > 1 else seeds[0] + 1, key="mix_b"))
        cutoff = m3.slider("Layers from A (coarse first)", 1, num_ws - 1, min(4, num_ws - 1), key="mix_cut",
                           help=f"The generator has {num_ws} style layers, coarse (4×4, 8×8: layout, pose) to fine "
                                "(colours, texture). The first ones come from A, the rest from B.")
        pair = generate(loaded, [mix_a, mix_b], class_index=class_index if class_index is not None else 0,
                        truncation=truncation)  # both in one class, as style_mix draws them
        mixed = style_mix(loaded, mix_a, mix_b, cutoff, class_index, truncation)
        shown = [upscale(to_pil(x), 200) for x in (pair[0], mixed, pair[1])]
        st.image(shown, caption=[f"seed A {mix_a}", f"mixed: layers 1–{cutoff} from A", f"seed B {mix_b}"], width=200)
