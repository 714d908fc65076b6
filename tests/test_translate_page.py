"""The Translate page under AppTest, with real tiny pix2pix and CycleGAN runs trained by the
real Trainer: the canvas input and its translation, a held-out data-set image beside its real
target, CycleGAN's round trip and direction switch; and the batch ZIP the page offers."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image
from streamlit.testing.v1 import AppTest

from gan_core.config import TrainConfig, preset_for
from gan_core.inference.translate import load_translator, translate_to_zip
from gan_core.runs.rundir import RunDir
from gan_core.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(data="shapes", resolution=16, channels=1, width=4, batch_size=4, steps=2, log_every=1, sample_every=2,
            checkpoint_every=2, threads=1)


def trained(name: str, **values) -> RunDir:
    run = RunDir.create(name, TrainConfig.from_dict({**preset_for("shapes", values["model"]), **TINY, **values}))
    assert train(run) == "finished"
    return run


def captions(at: AppTest) -> list[str]:
    return [i.caption for image in at.get("image") for i in image.proto.imgs]


def test_translate_page_draw_pick_and_cycle():
    trained("p2p", model="pix2pix")
    trained("cyc", model="cyclegan", domain_a="circle", domain_b="square")
    at = AppTest.from_file(str(ROOT / "pages" / "10_Translate.py"), default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    assert set(at.selectbox(key="tr_run").options) == {"p2p", "cyc"}

    at.selectbox(key="tr_run").set_value("p2p").run()
    assert at.radio(key="tr_source").value == "Draw"
    assert at.radio(key="tr_tool").options == ["Brush", "Eraser"]
    assert {"Input (what the model sees)", "Translation"} <= set(captions(at))  # a blank canvas translates too

    at.radio(key="tr_source").set_value("Data set image").run()
    assert not at.exception and "The real image" in captions(at)
    first = [i.proto.imgs[0].url for i in at.get("image")]
    at.number_input(key="tr_index").set_value(3).run()
    assert [i.proto.imgs[0].url for i in at.get("image")] != first  # another held-out image

    at.selectbox(key="tr_run").set_value("cyc").run()
    assert at.radio(key="tr_direction").options == ["circle → square", "square → circle"]
    assert "And back again" in captions(at)
    at.radio(key="tr_direction").set_value("square → circle").run()
    assert not at.exception and "And back again" in captions(at)


def test_direction_switch_with_one_domain_name_a_prefix_of_the_other(tmp_path):
    """Domains "cats-cartoon" (A) and "cats" (B): both direction labels start with B's name, and
    the page, telling them apart by that prefix, translated B -> A both ways."""
    for name, value in (("cats-cartoon", 40), ("cats", 220)):
        (tmp_path / name).mkdir()
        for i in range(12):
            Image.new("L", (20, 20), value + i).save(tmp_path / name / f"{i}.png")
    trained("cc", model="cyclegan", domain_a=str(tmp_path / "cats-cartoon"), domain_b=str(tmp_path / "cats"))
    at = AppTest.from_file(str(ROOT / "pages" / "10_Translate.py"), default_timeout=90).run()
    at.radio(key="tr_source").set_value("Data set image").run()
    assert not at.exception, [e.value for e in at.exception]

    def shown() -> list[str]:
        return [i.url for image in at.get("image") for i in image.proto.imgs]

    a_to_b = shown()
    assert at.radio(key="tr_direction").options == ["cats-cartoon → cats", "cats → cats-cartoon"]  # no server paths
    at.radio(key="tr_direction").set_value(at.radio(key="tr_direction").options[1]).run()
    assert not at.exception and shown() != a_to_b  # a cat, not the same cartoon again


def test_batch_zip_has_one_png_per_readable_file_with_provenance():
    trained("cyc", model="cyclegan", domain_a="circle", domain_b="ring")
    translator = load_translator("cyc")
    png = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(png, "PNG")
    files = [("a.png", png.getvalue()), ("b.jpg.png", png.getvalue()), ("notes.txt", b"not an image")]
    archive, written, skipped = translate_to_zip(translator, files, reverse=True)
    assert written == ["a.png", "b.jpg.png"] and [n for n, _ in skipped] == ["notes.txt"]
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert sorted(z.namelist()) == ["a.png", "b.jpg.png"]
        out = Image.open(io.BytesIO(z.read("a.png")))
        assert out.size == (16, 16) and out.text["source_image"] == "a.png" and out.text["direction"] == "B->A"
        assert out.text["run"] == "cyc"


def test_batch_zip_is_offered_only_for_the_run_and_direction_that_made_it():
    """A batch ZIP made with one run was still offered, as "<other run>-translated.zip", after
    picking another run or direction: PNGs of the wrong model under the wrong name."""
    trained("p2p", model="pix2pix")
    trained("cyc", model="cyclegan", domain_a="circle", domain_b="square")
    png = io.BytesIO()
    Image.new("L", (40, 40), 255).save(png, "PNG")
    at = AppTest.from_file(str(ROOT / "pages" / "10_Translate.py"), default_timeout=90).run()
    at.selectbox(key="tr_run").set_value("cyc").run()
    at.radio(key="tr_source").set_value("Batch (several files)").run()
    at.file_uploader(key="tr_batch").set_value([("shoe.png", png.getvalue(), "image/png")]).run()
    at.button(key="tr_batch_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("download_button")) == 1 and "Translated 1 image" in at.success[0].value

    at.radio(key="tr_direction").set_value("square → circle").run()
    assert not at.get("download_button") and not at.success  # made A -> B: not this direction's
    at.radio(key="tr_direction").set_value("circle → square").run()
    assert len(at.get("download_button")) == 1  # back: the same ZIP again
    at.selectbox(key="tr_run").set_value("p2p").run()
    assert not at.exception and not at.get("download_button") and not at.success


def test_a_batch_with_no_readable_image_offers_no_empty_zip():
    """Only unreadable files: the page said "Translated 0 images" in green and offered an empty ZIP."""
    trained("p2p", model="pix2pix")
    at = AppTest.from_file(str(ROOT / "pages" / "10_Translate.py"), default_timeout=90).run()
    at.radio(key="tr_source").set_value("Batch (several files)").run()
    at.file_uploader(key="tr_batch").set_value([("notes.txt", b"not an image", "text/plain")]).run()
    at.button(key="tr_batch_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.get("download_button") and not at.success
    assert "could be read as an image" in at.error[0].value and "notes.txt" in at.warning[0].value


def test_train_page_offers_the_translation_models_with_their_recipe():
    at = AppTest.from_file(str(ROOT / "pages" / "3_Train.py"), default_timeout=90).run()
    at.selectbox(key="f_data").set_value("fashion-mnist").run()
    at.selectbox(key="f_model").set_value("cyclegan").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="f_domain_a").value == "sneaker" and at.text_input(key="f_domain_b").value == "ankle boot"
    assert at.number_input(key="f_width").value == 16 and not at.button(key="launch").disabled
    assert not [w for w in at.selectbox if w.key == "f_paired_transform"]  # pix2pix's field is hidden
    at.text_input(key="f_domain_b").set_value("Sneaker").run()
    assert any("must differ" in e.value for e in at.error) and at.button(key="launch").disabled
    at.selectbox(key="f_model").set_value("pix2pix").run()
    assert at.selectbox(key="f_paired_transform").value == "edges" and not at.button(key="launch").disabled


def test_monitor_charts_a_cyclegan_runs_own_terms_and_its_grid():
    trained("cyc", model="cyclegan", domain_a="circle", domain_b="square")
    at = AppTest.from_file(str(ROOT / "pages" / "4_Monitor.py"), default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    titles = [str(c.proto.spec) for c in at.get("plotly_chart")]
    assert any("Translation terms" in t and "cycle A" in t and "identity B" in t for t in titles)
    assert any("A→B · back to A" in i.caption for image in at.get("image") for i in image.proto.imgs)


def test_generate_opens_on_the_newest_run_it_can_sample_not_a_newer_translation_run():
    """Training a pix2pix after a DCGAN left Generate open on the pix2pix, with only a pointer
    to Translate; it now opens on the DCGAN and still lists the pix2pix."""
    trained("gen", model="dcgan")
    trained("p2p", model="pix2pix")
    at = AppTest.from_file(str(ROOT / "pages" / "7_Generate.py"), default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="gen_run").value == "gen"
    assert set(at.selectbox(key="gen_run").options) == {"gen", "p2p"}
    assert at.get("image"), "a grid from the DCGAN"
    at.selectbox(key="gen_run").set_value("p2p").run()
    assert any("turns images into images" in i.value for i in at.info)


def test_monitor_and_generate_send_a_translation_run_to_translate_with_that_run():
    """Monitor offered "Generate images from this run" for a CycleGAN run, and Generate's "Go to
    Translate" opened Translate on its first run, not the one being looked at."""
    trained("cyc", model="cyclegan", domain_a="circle", domain_b="square")
    trained("p2p", model="pix2pix")  # newest: first in the lists
    at = AppTest.from_file(str(ROOT / "pages" / "4_Monitor.py"), default_timeout=90)
    at.session_state["monitor_runs"] = ["cyc"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "to_generate"]
    at.button(key="to_translate").click().run()
    assert at.session_state["translate_run"] == "cyc"

    at = AppTest.from_file(str(ROOT / "pages" / "7_Generate.py"), default_timeout=90)
    at.session_state["generate_run"] = "cyc"
    at.run()
    at.button(key="gen_to_translate").click().run()
    assert at.session_state["translate_run"] == "cyc"

    assert AppTest.from_file(str(ROOT / "pages" / "10_Translate.py"), default_timeout=90).run().selectbox(
        key="tr_run").value == "p2p"  # unasked: the first run
    at = AppTest.from_file(str(ROOT / "pages" / "10_Translate.py"), default_timeout=90)
    at.session_state["translate_run"] = "cyc"
    at.run()
    assert not at.exception and at.selectbox(key="tr_run").value == "cyc"
    assert at.radio(key="tr_direction").options == ["circle → square", "square → circle"]


def test_monitor_says_what_healthy_curves_look_like_for_a_translation_run():
    """For a pix2pix run Monitor said loss D sits near 1.39 and loss G around 0.7-2 (the
    non-saturating GAN's levels); pix2pix halves loss D and its loss G is mostly 100 x L1."""
    trained("p2p", model="pix2pix")
    trained("cyc", model="cyclegan", domain_a="circle", domain_b="square")
    for run, words in (("p2p", "100 × the L1 distance"), ("cyc", "10 × the two cycle errors")):
        at = AppTest.from_file(str(ROOT / "pages" / "4_Monitor.py"), default_timeout=90)
        at.session_state["monitor_runs"] = [run]
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        notes = [i.value for i in at.info if "Healthy curves" in i.value]
        assert len(notes) == 1 and words in notes[0] and "2·ln 2" not in notes[0], notes


def test_the_report_says_what_a_translation_runs_grid_shows():
    """The HTML report captioned a CycleGAN run's grid "The same fixed noise all run long" (and
    tagged the PNG "fixed-noise sample grid"): its rows are held-out images and their translations."""
    from gan_core.experiments.report import build_report

    trained("cyc", model="cyclegan", domain_a="circle", domain_b="square")
    html = build_report(["cyc"])
    assert "rows: A · A→B · back to A, then B · B→A · back to B" in html
    assert "fixed noise" not in html.lower() and "fixed-noise" not in html
