"""Data: the built-in and imported data sets, a preview of each, and importing your own."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from gan_core import access  # noqa: E402
from gan_core.access import AccessError, ownership  # noqa: E402
from gan_core.config import preset_for  # noqa: E402
from gan_core.data import (DatasetError, folder_split_sizes, import_dataset, list_datasets,  # noqa: E402
                           load_dataset, split_sizes, trashed_datasets)
from gan_core.data.importer import data_root  # noqa: E402
from gan_core.data.limits import trash_days, upload_problem  # noqa: E402
from gan_core.inference.generators import image_grid  # noqa: E402
from gan_core.metrics.quality import MIN_HELD_OUT  # noqa: E402
from ui.auth import refusal_note  # noqa: E402
from ui.common import page_setup, where  # noqa: E402

me = page_setup("Data")
st.title("Data sets")
st.caption("Built-in sets are ready to train; imported sets live in "
           f"{where(me, data_root(), 'the studio’s data folder')} and can be trained on by name.")


def data_action(call, done: str) -> None:
    """Run an ownership-checked action on a data set: show its refusal, or say it is done and redraw."""
    try:
        call()
    except (DatasetError, AccessError) as exc:
        st.error(str(exc))
    else:
        st.cache_data.clear()
        st.toast(done)
        st.rerun()


@st.cache_data(show_spinner=False, max_entries=32)
def preview(name: str, resolution: int, channels: int, _token: float):
    """The first 32 images as one grid, and the class counts of the whole set."""
    data = load_dataset(name, resolution, channels, split="train")
    grid = image_grid(data.images[:32], nrow=8)
    counts = {}
    if data.labels is not None and data.classes:
        import torch

        bins = torch.bincount(data.labels, minlength=len(data.classes)).tolist()
        counts = dict(zip(data.classes, bins))
    return grid, counts, len(data)


def _token(info) -> float:
    """Invalidate the preview cache when an imported folder changes."""
    folder = data_root() / info.name
    try:
        return folder.stat().st_mtime if info.kind == "imported" else 0.0
    except OSError:
        return 0.0


infos = list_datasets()
tab_browse, tab_import = st.tabs([":material/photo_library: Browse", ":material/upload: Import your images"])

with tab_browse:
    left, right = st.columns([1, 2.4], gap="large")
    with left:
        labels = {d.name: f"{d.name}  ·  {'built-in' if d.kind == 'builtin' else 'imported'}"
                  + ("" if d.available else "  (missing)") for d in infos}
        chosen = st.radio("Data set", [d.name for d in infos], format_func=labels.get, key="data_pick")
        info = next(d for d in infos if d.name == chosen)
        sizes = split_sizes(info)
        if sizes is None:
            st.markdown("**not available**")
        elif info.kind == "builtin":
            st.markdown(f"**{sizes[0]:,} training images** · {sizes[1]:,} held out")
        else:
            st.markdown(f"**{info.count:,} images**: " + (f"{sizes[0]:,} for training, {sizes[1]:,} held out"
                                                          if sizes[0] < info.count else "all used for training"))
        if sizes:
            st.caption("Held-out images are never trained on: quality scores and the restore demos use them"
                       + (" (every 10th file; a set under 10 images uses all of them for both)"
                          if info.kind == "imported" else "")
                       + (f". Under {MIN_HELD_OUT:,} held out, quality is scored against all the images: "
                          "fewer make FID swing like a change of seed." if sizes[1] < MIN_HELD_OUT else "."))
        if info.classes:
            st.caption(f"{len(info.classes)} classes: " + ", ".join(info.classes[:12])
                       + (" …" if len(info.classes) > 12 else ""))
        else:
            st.caption("Unlabelled (trains unconditionally)")
        if info.kind == "imported" or not info.available:
            st.caption(info.note)
        elif info.name == "fashion-mnist":
            st.caption("Zalando's 28×28 greyscale clothing images: the studio's default set.")
        elif info.name == "shapes":
            st.caption("Coloured shapes drawn on the fly: a quick smoke test, trains in seconds.")
        elif info.name == "digits":
            st.caption("scikit-learn's 8×8 handwritten digits: tiny and fast.")
        elif info.name == "emoji":
            st.caption("Noto Color Emoji rendered on white, one per emoji (default skin tone), "
                       "labelled by Unicode group: a small colour set for style-based GANs.")
        if info.kind == "imported":
            owner = ownership.dataset_owner(info.name)
            not_yours = refusal_note(me, owner, "data set")
            if owner:
                st.caption(f"Imported by {owner}")
            with st.popover("Delete this set", icon=":material/delete:", disabled=bool(not_yours), help=not_yours):
                st.write(f"Move **{info.name}** to the trash ({where(me, data_root() / '.trash', f'kept {trash_days():g} days')})? It can be restored "
                         "below. Runs trained on it keep their weights.")
                if st.button("Move to trash", type="primary", key=f"delete_{info.name}"):
                    data_action(lambda: ownership.delete_dataset_as(me, info.name), f"Moved {info.name} to the trash")
        trash = trashed_datasets()
        if trash:
            with st.expander(f"Trash ({len(trash)})", icon=":material/restore_from_trash:"):
                for t in trash[:20]:
                    c1, c2 = st.columns([2, 1])
                    c1.caption(f"**{t.name}** · deleted {t.deleted}")
                    if c2.button("Restore", key=f"restore_{t.path.name}"):
                        data_action(lambda t=t: ownership.restore_dataset_as(me, t.name, t.path), f"Restored {t.name}")
    with right:
        if not info.available:
            st.warning(f"**{info.name}** is not on this machine. It needs {info.note.removeprefix('missing: needs ')}.",
                       icon=":material/cloud_off:")
        else:
            preset = preset_for(info.name, labelled=bool(info.classes))  # (known: no folder scan per rerun)
            res, ch = int(preset["resolution"]), int(preset["channels"])
            try:
                with st.spinner(f"Loading {info.name} …"):
                    grid, counts, n = preview(info.name, res, ch, _token(info))
            except DatasetError as exc:
                st.error(str(exc))
            else:
                g1, g2 = st.columns([1.35, 1], gap="medium")
                with g1:
                    st.image(grid.resize((grid.width * 2, grid.height * 2), 0) if grid.width < 400 else grid,
                             caption=f"First 32 images at the preset's {res}×{res} px, "
                                     f"{'RGB' if ch == 3 else 'greyscale'}", width="stretch")
                with g2:
                    if counts:
                        import plotly.graph_objects as go

                        fig = go.Figure(go.Bar(x=list(counts.values()), y=list(counts.keys()), orientation="h",
                                               marker_color="#4F46E5"))
                        fig.update_layout(title=f"Training images per class ({n:,} in all)",
                                          height=max(260, 26 * len(counts) + 80),
                                          margin=dict(l=10, r=10, t=40, b=10), template="plotly_white",
                                          yaxis=dict(autorange="reversed"))
                        st.plotly_chart(fig, key=f"counts_{info.name}")
                    else:
                        st.metric("Training images", f"{n:,}")
                        st.caption("No class folders: the set trains unconditionally.")

with tab_import:
    limit = st.get_option("server.maxUploadSize")
    st.markdown(
        "Upload a **.zip** or a handful of **images**. Class subfolders inside the zip "
        "(`cats/…`, `dogs/…`) become classes; a flat set trains unconditionally. Every file is "
        "checked: unreadable, oversized or unsafe entries are skipped and listed below."
    )
    with st.form("import_form", clear_on_submit=False):
        files = st.file_uploader(
            f"Zip or images (up to {limit} MB per file)",
            type=["zip", "png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"],
            accept_multiple_files=True, key="upload_files",
        )
        name = st.text_input("Name of the new set", placeholder="e.g. my-sketches", key="import_name",
                             help="Letters, digits, '.', '_' or '-'. Train on it by choosing this name on Train.")
        replace = st.checkbox("Replace a set of the same name", key="import_overwrite",
                              help="Deletes that set's files first (runs trained on it keep their weights).")
        submitted = st.form_submit_button("Import", type="primary", icon=":material/upload:")
    taken = bool(name) and (data_root() / name).exists()
    if submitted:
        too_much = upload_problem([f.size for f in files or []])
        if not files:
            st.error("Choose a .zip or some images first.")
        elif not name:
            st.error("Give the new set a name.")
        elif too_much:
            st.session_state["import_result"] = ("error", f"Not imported: {too_much}", [])
        elif len(files) > 1 and any(f.name.lower().endswith(".zip") for f in files):
            # Beside other files a zip was stored as one more "image" and skipped (not an image):
            # its whole contents were lost from the set, or the import found no images at all.
            st.session_state["import_result"] = (
                "error", "Not imported: a **.zip** is imported on its own. Upload one .zip, or image files "
                         "without a zip (several zips: import each under its own name, or zip them together).", [])
        elif taken and not replace:
            free = next(f"{name}-{i}" for i in range(2, 10_000) if not (data_root() / f"{name}-{i}").exists())
            st.session_state["import_result"] = (
                "error", f"A set named **{name}** exists already: tick **Replace a set of the same name**, "
                         f"or choose a free name such as `{free}`.", [])
        else:
            with tempfile.TemporaryDirectory(prefix="gan-upload-") as tmp, st.spinner("Checking and importing …"):
                tmp_path = Path(tmp)
                zips = [f for f in files if f.name.lower().endswith(".zip")]
                if len(zips) == 1 and len(files) == 1:
                    src = tmp_path / "upload.zip"
                    src.write_bytes(zips[0].getvalue())
                else:
                    src = tmp_path / "images"
                    src.mkdir()
                    for i, f in enumerate(files):
                        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(f.name).name)
                        (src / f"{i:04d}_{safe}").write_bytes(f.getvalue())
                try:
                    if replace and ownership.dataset_owner(name) is not None:  # replacing is changing it
                        access.check(me, ownership.dataset_owner(name), name, "replace", what="data set")
                    report = import_dataset(src, name, overwrite=replace)
                    ownership.record_dataset_owner(name, me)
                except (DatasetError, AccessError) as exc:
                    st.session_state["import_result"] = ("error", str(exc), [])
                else:
                    train_n, held = folder_split_sizes(report.imported)
                    split = (f": {train_n:,} for training, {held:,} held out for scores and demos" if train_n < report.imported
                             else " (under 10 images: all of them used for training)")
                    st.session_state["import_result"] = ("ok", report.summary() + split, report.skipped)
                    st.cache_data.clear()
    result = st.session_state.get("import_result")
    if result:
        kind, text, skipped = result
        (st.success if kind == "ok" else st.error)(text)
        if skipped:
            st.markdown(f"**Skipped files ({len(skipped)})**")
            st.dataframe([{"File": f, "Reason": r} for f, r in skipped], hide_index=True, width="stretch",
                         key="skipped_table")
