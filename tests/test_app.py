"""Every page of the app in every state, with real run folders (streamlit.testing AppTest).

States: no runs; one running (a real background job through gan_core.jobs); one finished
(a tiny real training on shapes); one failed (a real run whose data set is missing).
"""
from __future__ import annotations

import io
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from gan_core.config import TrainConfig, preset_for
from gan_core.runs.rundir import RunDir
from ui.common import PAGES

ROOT = Path(__file__).resolve().parents[1]
STATES = ("empty", "running", "finished", "failed")
pytestmark = pytest.mark.timeout(300)


def tiny_cfg(**changes) -> TrainConfig:
    values = dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=40,
                  log_every=5, sample_every=10, checkpoint_every=20, threads=1)
    values.update(changes)
    return TrainConfig.from_dict(values)


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """One checkpoints folder per state, made once for the module."""
    from gan_core.jobs import manager as jobs
    from gan_core.training.loop import train

    base = tmp_path_factory.mktemp("app_states")
    data = base / "data"
    data.mkdir()
    old_env = {k: os.environ.get(k) for k in ("GAN_CHECKPOINTS", "GAN_DATA")}
    os.environ["GAN_DATA"] = str(data)
    out = {s: base / s for s in STATES}
    for path in out.values():
        path.mkdir()

    finished = RunDir.create("shapes-finished", tiny_cfg(), root=out["finished"])
    assert train(finished) == "finished"

    failed = RunDir.create("vanished-data", tiny_cfg(data=str(base / "gone"), conditional=False), root=out["failed"])
    assert train(failed) == "failed"

    os.environ["GAN_CHECKPOINTS"] = str(out["running"])
    running = jobs.launch(tiny_cfg(minutes=5.0, steps=1, checkpoint_every=100_000), "shapes-running",
                          root=out["running"])
    deadline = time.time() + 60
    while time.time() < deadline and jobs.status("shapes-running", root=out["running"])["state"] != "running":
        time.sleep(0.2)
    assert jobs.status("shapes-running", root=out["running"])["state"] == "running", jobs.log_tail("shapes-running", root=out["running"])
    try:
        yield out
    finally:
        try:
            jobs.stop(running.name, timeout=30, wait=True, root=out["running"])
        except Exception:  # noqa: BLE001 - teardown: make sure nothing keeps running
            jobs.cancel(running.name, root=out["running"])
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def state_env(roots, monkeypatch, tmp_path):
    def use(state: str) -> Path:
        monkeypatch.setenv("GAN_CHECKPOINTS", str(roots[state]))
        monkeypatch.setenv("GAN_DATA", str(tmp_path / "data"))
        return roots[state]
    return use


def app(page: str) -> AppTest:
    return AppTest.from_file(str(ROOT / PAGES[page]), default_timeout=90)


def texts(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "error", "warning", "success", "title", "subheader", "metric"):
        for el in getattr(at, kind):
            parts.append(str(getattr(el, "value", "")) + " " + str(getattr(el, "label", "")))
    return "\n".join(parts)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_in_every_state(page, state, state_env):
    state_env(state)
    at = app(page).run()
    assert not at.exception, [e.value for e in at.exception]
    body = texts(at)
    name = {"running": "shapes-running", "finished": "shapes-finished", "failed": "vanished-data"}.get(state)

    if page == "home":
        assert "GAN Studio" in body
        assert at.button(key="quick_start").label.startswith("Quick start")
        if state == "empty":
            assert "No runs yet" in body
        else:
            table = at.dataframe[0].value
            assert list(table["Run"]) == [name]
            assert state in table["State"].iloc[0]
            if state == "finished":
                assert table["Progress"].iloc[0] == 100
                assert str(table["Latest sample"].iloc[0]).startswith("data:image/png")
    elif page == "data":
        assert any(o.startswith("shapes") for o in at.radio(key="data_pick").options)
        assert at.get("image"), "a preview grid"
    elif page == "train":
        assert at.button(key="launch").label == "Launch training"
        assert not at.button(key="launch").disabled
        options = at.selectbox(key="init_from_pick").options
        assert ("shapes-finished" in options) == (state == "finished")
    elif page == "monitor":
        if state == "empty":
            assert "No runs to monitor yet" in body
        else:
            assert name in body
            if state == "failed":
                assert any("Failed" in e.value and "DatasetError" in e.value for e in at.error)
            if state == "finished":
                assert len(at.get("plotly_chart")) >= 5
                assert "Are my curves normal" in body and "hinge" in body
                assert at.get("image"), "the fixed-noise grid"
            if state == "running":
                assert not at.button(key=f"stop_{name}").disabled
                assert at.button(key=f"resume_{name}").disabled
                assert "Use Stop" in at.button(key=f"cancel_{name}").help
            if state in ("finished", "failed"):  # greyed Cancel says why in this state, not only for queued runs
                cancel = at.button(key=f"cancel_{name}")
                assert cancel.disabled and f"Nothing to cancel: the run is {state}, not queued" in cancel.help
    elif page == "translate":
        assert "No translation run with a checkpoint yet" in body
    elif page == "generate":
        if state == "finished":
            captions = at.get("image")[0].captions
            assert len(captions) == 16 and captions[0].startswith("seed 0")
        else:
            assert "Nothing to generate from yet" in body
    elif page == "augment":
        assert "No labs yet" in body
        assert at.button[0].label == "Launch lab"
        assert ("shapes-finished" in at.selectbox(key="aug_reuse").options) == (state == "finished")


def test_train_explains_invalid_values_inline_and_blocks_launch(state_env):
    state_env("empty")
    at = app("train").run()
    at.number_input(key="f_width").set_value(2).run()
    assert any("width" in e.value or "whole number from 4" in e.value for e in at.error)
    assert at.button(key="launch").disabled
    # a combination: wgan-gp with batch norm in D
    at.number_input(key="f_width").set_value(16).run()
    assert not at.button(key="launch").disabled
    at.selectbox(key="f_loss").set_value("wgan-gp").run()
    at.selectbox(key="f_d_norm").set_value("batch").run()
    assert any("gradient penalty" in e.value for e in at.error)
    assert at.button(key="launch").disabled


def test_train_refuses_a_size_that_would_not_fit_in_memory(state_env, tmp_path):
    """A set is trained from one in-memory tensor: an imported set of 200,000 images (its import
    report's count; 12 are on disk) at 256 px would need some 190 GiB. Said under the field
    before launch, not by a trainer the kernel kills."""
    import json

    from gan_core.data import import_dataset
    from gan_core.data.importer import REPORT_FILE, data_root

    state_env("empty")
    for i in range(12):
        Image.new("RGB", (20, 20), (i * 20, 90, 30)).save(tmp_path / f"{i:02d}.png")
    import_dataset(tmp_path, "big")
    report = data_root() / "big" / REPORT_FILE
    report.write_text(json.dumps({**json.loads(report.read_text()), "imported": 200_000}))
    at = app("train").run()
    at.selectbox(key="f_data").set_value("big").run()
    at.selectbox(key="f_resolution").set_value(256).run()
    assert any("180,000 images at 256 px need about" in e.value and "GiB of memory" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert at.button(key="launch").disabled
    at.selectbox(key="f_resolution").set_value(16).run()
    assert not at.error and not at.button(key="launch").disabled


def test_train_keeps_the_fields_a_model_hides_across_changes(state_env):
    """Streamlit drops the state of a widget a run does not draw: after switching to emoji
    (stylegan2 hides batch norm's fields) the second change killed the page on 'f_g_norm'."""
    state_env("empty")
    at = app("train").run()
    at.selectbox(key="f_data").set_value("emoji").run()
    for resolution in (128, 32, 64):
        at.selectbox(key="f_resolution").set_value(resolution).run()
        assert not at.exception and not at.error, [str(x.value) for x in at.exception]
    at.number_input(key="f_steps").set_value(500).run()
    assert not at.exception and not at.button(key="launch").disabled
    assert at.session_state["f_g_norm"] == "none"  # the stylegan2 preset's value, kept while hidden
    at.selectbox(key="f_data").set_value("fashion-mnist").run()
    assert at.selectbox(key="f_g_norm").value == "batch" and not at.exception


def test_train_a_restoration_model_on_emoji_gets_a_recipe_it_can_launch(state_env):
    """Emoji's recipe is StyleGAN2 + ADA: picking srgan kept ADA and the page refused to launch
    ("'ada' is for image GANs") until the user found the augment field."""
    state_env("empty")
    at = app("train").run()
    at.selectbox(key="f_data").set_value("emoji").run()
    at.selectbox(key="f_model").set_value("srgan").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["f_augment"] == [] and at.session_state["f_data"] == "emoji"
    assert not at.button(key="launch").disabled


def test_train_model_switch_loads_that_models_recipe_both_ways(state_env):
    """Fashion-MNIST's DCGAN form switched to stylegan2 kept hinge and lr 2e-4; and back to dcgan
    it would have kept StyleGAN2's lr 0.0025 and R1."""
    state_env("empty")
    at = app("train").run()
    at.selectbox(key="f_model").set_value("stylegan2").run()
    assert (at.session_state["f_loss"], at.session_state["f_lr_g"], at.session_state["f_r1_gamma"]) == (
        "nonsaturating", 0.0025, 0.0064)
    assert not at.exception and not at.button(key="launch").disabled
    at.selectbox(key="f_model").set_value("dcgan").run()
    assert (at.session_state["f_loss"], at.session_state["f_lr_g"], at.session_state["f_r1_gamma"]) == ("hinge", 0.0002, 0.0)


def test_train_data_set_choice_loads_its_preset_and_name_collision_is_caught(state_env):
    root = state_env("finished")
    at = app("train").run()
    at.selectbox(key="f_data").set_value("digits").run()
    assert at.selectbox(key="f_resolution").value == 16
    assert at.multiselect(key="f_augment").value == ["translation", "cutout"]
    at.text_input(key="run_name").set_value("shapes-finished").run()
    assert any("exists already" in e.value for e in at.error)
    assert at.button(key="launch").disabled
    assert (root / "shapes-finished").is_dir()


def test_train_launch_starts_a_background_job(state_env, tmp_path):
    from gan_core.jobs import manager as jobs

    root = tmp_path / "launch_runs"
    state_env("empty")
    os.environ["GAN_CHECKPOINTS"] = str(root)  # monkeypatched by state_env; restored after the test
    at = app("train").run()
    at.selectbox(key="f_data").set_value("shapes").run()
    for key, value in dict(f_resolution=16).items():
        at.selectbox(key=key).set_value(value).run()
    for key, value in dict(f_width=8, f_z_dim=16, f_batch_size=16, f_steps=20, f_log_every=5,
                           f_sample_every=10, f_checkpoint_every=10, f_threads=1).items():
        at.number_input(key=key).set_value(value)
    at.text_input(key="run_name").set_value("from-the-form")
    at.run()
    assert not at.button(key="launch").disabled, [e.value for e in at.error]
    at.button(key="launch").click().run()
    assert not at.exception
    try:
        assert (root / "from-the-form" / "config.yaml").is_file()
        cfg = RunDir.open("from-the-form", root).config()
        assert (cfg.data, cfg.width, cfg.steps) == ("shapes", 8, 20)
    finally:
        jobs.stop("from-the-form", timeout=30, wait=True, root=root)


def test_generate_class_from_text_and_single_seed(state_env):
    state_env("finished")
    at = app("generate").run()
    at.text_input(key="gen_text").set_value("a circle").run()
    assert any("→ **circle**" in m.value for m in at.markdown)
    captions = at.get("image")[0].captions
    assert all(c.endswith("· circle") for c in captions)
    at.slider(key="gen_n").set_value(4).run()
    at.number_input(key="gen_seed").set_value(100).run()
    assert at.get("image")[0].captions == [f"seed {s} · circle" for s in range(100, 104)]
    at.number_input(key="gen_one_seed").set_value(102).run()
    assert any(img.captions == ["seed 102 · circle"] for img in at.get("image"))
    at.text_input(key="gen_text").set_value("a spaceship").run()
    assert any("No class matches" in w.value for w in at.warning)


def test_generate_interpolation_and_export(state_env, tmp_path):
    state_env("finished")
    at = app("generate").run()
    at.button(key="interp_go").click().run()
    assert not at.exception
    assert any(img.captions and "seed 0 → seed 1" in img.captions[0] for img in at.get("image"))
    at.text_input(key="export_name_shapes-finished").set_value("synthetic-shapes")
    at.number_input(key="export_n").set_value(3)
    at.button(key="export_go").click().run()
    assert not at.exception
    folder = tmp_path / "data" / "synthetic-shapes"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["circle", "cross", "ring", "square", "triangle"]
    png = Image.open(next((folder / "ring").glob("*.png")))
    assert png.text["synthetic"] == "true" and png.text["run"] == "shapes-finished"
    assert any("Wrote 15 images" in s.value for s in at.success)


def png(colour: tuple[int, int, int], size: int = 20) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    """A .zip upload holding ``files`` (name -> bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_data_import_of_a_zip_with_a_corrupt_file_shows_the_report(state_env, tmp_path):
    state_env("empty")
    files = {f"{cls}/{i}.png": png((i * 40, 100, 0 if cls == "cats" else 200)) for cls in ("cats", "dogs") for i in range(3)}
    at = app("data").run()
    at.file_uploader(key="upload_files").set_value(("pets.zip", zip_of({**files, "dogs/broken.png": b"not an image at all"}),
                                                    "application/zip"))
    at.text_input(key="import_name").set_value("pets")
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Imported 6 images in 2 classes; skipped 1" in s.value for s in at.success)
    skipped = at.dataframe[-1].value
    assert list(skipped["File"]) == ["dogs/broken.png"]
    assert (tmp_path / "data" / "pets" / "cats").is_dir()
    # the same name again: the page offers its Replace box or a free name, and replaces on request
    next(b for b in at.button if b.label == "Import").click().run()
    assert any("exists already" in e.value and "Replace a set of the same name" in e.value and "pets-2" in e.value
               for e in at.error)
    assert "overwrite=True" not in texts(at)
    at.checkbox(key="import_overwrite").check()
    next(b for b in at.button if b.label == "Import").click().run()
    assert any("Imported 6 images in 2 classes" in s.value for s in at.success)
    # the new set is listed and can be deleted
    at = app("data").run()
    assert any(o.startswith("pets") for o in at.radio(key="data_pick").options)
    at.radio(key="data_pick").set_value("pets").run()
    at.button(key="delete_pets").click().run()
    assert not (tmp_path / "data" / "pets").exists()


def test_data_import_refuses_a_zip_among_other_files(state_env, tmp_path):
    """A zip uploaded beside images was stored as one more image and skipped ("not an image"):
    the set was made of the loose images alone, the zip's contents silently lost."""
    state_env("empty")
    pets = zip_of({f"cats/{i}.png": png((i * 40, 100, 0)) for i in range(3)})
    at = app("data").run()
    at.file_uploader(key="upload_files").set_value([("pets.zip", pets, "application/zip"),
                                                    ("dog.png", png((9, 9, 9)), "image/png")])
    at.text_input(key="import_name").set_value("pets")
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception and not at.success
    assert any("imported on its own" in e.value for e in at.error)
    assert not (tmp_path / "data" / "pets").exists()


def test_generate_accepts_an_uploaded_checkpoint_and_refuses_a_pickle(roots, monkeypatch, tmp_path):
    import pickle

    monkeypatch.setenv("GAN_CHECKPOINTS", str(tmp_path / "ck"))
    monkeypatch.setenv("GAN_DATA", str(tmp_path / "data"))
    source = RunDir.open("shapes-finished", roots["finished"]).latest_checkpoint().weights
    at = app("generate").run()
    at.file_uploader(key="ckpt_upload").set_value(("colleague.safetensors", source.read_bytes(), "application/octet-stream"))
    at.text_input(key="ckpt_import_name").set_value("colleague")
    next(b for b in at.button if b.label == "Add as a run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Added **colleague**" in s.value for s in at.success)
    assert at.selectbox(key="gen_run").value == "colleague" and at.get("image")

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    at.file_uploader(key="ckpt_upload").set_value(("evil.pt", pickle.dumps({"w": Evil()}), "application/octet-stream"))
    at.text_input(key="ckpt_import_name").set_value("evil")
    next(b for b in at.button if b.label == "Add as a run").click().run()
    assert any("Not added" in e.value and "refused" in e.value for e in at.error)
    assert not marker.exists() and not (tmp_path / "ck" / "evil").exists()


def test_data_counts_agree_and_say_the_split(state_env, tmp_path):
    """12 imported images: the report, the list and the preview all say 11 train + 1 held out
    (the report said 12 while the preview showed 11)."""
    state_env("empty")
    at = app("data").run()
    at.file_uploader(key="upload_files").set_value(("flat.zip", zip_of({f"{i:02d}.png": png((i * 20, 90, 30)) for i in range(12)}),
                                                    "application/zip"))
    at.text_input(key="import_name").set_value("flat")
    next(b for b in at.button if b.label == "Import").click().run()
    assert any("Imported 12 images unlabelled; nothing skipped: 11 for training, 1 held out" in s.value
               for s in at.success), [s.value for s in at.success]
    at = app("data").run()
    at.radio(key="data_pick").set_value("flat").run()
    assert not at.exception
    assert any("**12 images**: 11 for training, 1 held out" in m.value for m in at.markdown)
    assert [(m.label, m.value) for m in at.metric] == [("Training images", "11")]
    at.radio(key="data_pick").set_value("shapes").run()
    assert any("**2,048 training images** · 256 held out" in m.value for m in at.markdown)
    # ... and trains as the Data page says: unconditionally, with no error to fix first on Train
    train_page = app("train").run()
    train_page.selectbox(key="f_data").set_value("flat").run()
    assert train_page.toggle(key="f_conditional").value is False and not train_page.error
    assert train_page.selectbox(key="f_model").value == "stylegan2" and not train_page.button(key="launch").disabled


def test_train_explains_what_does_nothing_here_and_estimates_from_a_past_run(state_env, tmp_path, monkeypatch):
    """On a machine without CUDA, 'CUDA graph' is greyed with the reason and device=cuda is an
    error; the 'how long' line comes from a past run of the same networks on this machine."""
    import torch

    from ui.estimate import HOST

    state_env("empty")
    root = tmp_path / "past"
    monkeypatch.setenv("GAN_CHECKPOINTS", str(root))
    at = app("train").run()
    assert any("no measured speed" in m.value for m in at.markdown)
    if not torch.cuda.is_available():
        assert at.toggle(key="f_cuda_graph").disabled
        assert any("CUDA graphs need a CUDA GPU" in c.value for c in at.caption)
        at.selectbox(key="f_device").set_value("cuda").run()
        assert any("no CUDA GPU" in e.value for e in at.error) and at.button(key="launch").disabled
        at.selectbox(key="f_device").set_value("auto").run()
    past = RunDir.create("past", TrainConfig.from_dict(preset_for(at.selectbox(key="f_data").value)), root=root)
    past.write_status(state="stopped", host=HOST, images_seen=60_000, elapsed_s=300.0)  # 200 images/s
    at.run()
    assert any("about 6 min — measured by run **past**" in m.value for m in at.markdown), \
        [m.value for m in at.markdown if "How long" in m.value]


def test_generate_on_an_unconditional_run_offers_class_control_in_one_click(tmp_path, monkeypatch):
    from gan_core.jobs import manager as jobs
    from gan_core.training.loop import train

    root = tmp_path / "ck"
    monkeypatch.setenv("GAN_CHECKPOINTS", str(root))
    monkeypatch.setenv("GAN_DATA", str(tmp_path / "data"))
    assert train(RunDir.create("plain", tiny_cfg(conditional=False, steps=4, checkpoint_every=4), root=root)) == "finished"
    at = app("generate").run()
    assert not at.exception
    assert not any(t.label == "Describe it" for t in at.text_input)
    assert any("To choose a class or describe it in a few words" in c.value for c in at.caption)
    at.button(key="gen_conditional_start").click().run()
    started = [r for r in jobs_runs(root) if r != "plain"]
    try:
        assert len(started) == 1 and started[0].startswith("shapes-classes")
        assert RunDir.open(started[0], root).config().conditional
    finally:
        for name in started:
            jobs.stop(name, timeout=30, wait=True, root=root)


def jobs_runs(root: Path) -> list[str]:
    from gan_core.runs.rundir import list_runs

    return [r.name for r in list_runs(root)]


def test_train_puts_basic_fields_up_front_and_opens_advanced_on_its_error(state_env):
    state_env("empty")
    at = app("train").run()
    advanced = next(e for e in at.expander if e.label == "Advanced settings")
    inside = {w.key for w in advanced.number_input} | {w.key for w in advanced.selectbox}
    assert {"f_data", "f_model", "f_steps", "f_minutes"}.isdisjoint(inside)  # up front
    assert {"f_width", "f_batch_size", "f_loss"} <= inside
    assert not advanced.proto.expanded
    at.number_input(key="f_width").set_value(2).run()  # an advanced field made invalid
    advanced = next(e for e in at.expander if e.label == "Advanced settings")
    assert advanced.proto.expanded  # never hidden behind a closed section
    listed = [e.value for e in at.error if e.value.startswith("In Advanced settings")]
    assert listed and "Network width" in listed[0], [e.value for e in at.error]
    assert at.button(key="launch").disabled
