"""Untrusted images cost bounded work: one opener (allowed formats, pixel cap from the
header), bounded super-resolution output, with real files, the CLI and the pages."""
from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import ROOT, run_env
from PIL import Image
from streamlit.testing.v1 import AppTest

from gan_core import restore as R
from gan_core.cli.data import data_cli
from gan_core.config import TrainConfig
from gan_core import data
from gan_core.data.importer import DatasetError, import_dataset
from gan_core.data.limits import upload_problem
from gan_core.data.trash import delete_dataset, restore_dataset, trashed_datasets
from gan_core.data.untrusted import SkipFile, load_untrusted
from gan_core.jobs import manager as jobs
from gan_core.jobs.scheduler import JobError
from gan_core.runs.retention import grids_to_keep
from gan_core.runs.rundir import RunDir

PAGES = ROOT / "pages"
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"


def huge_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid PNG header claiming width x height RGB, with a few bytes of pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def png(size=(24, 24), colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def fresh_cache():
    data.clear_cache()
    yield
    data.clear_cache()


def test_opener_refuses_a_huge_header_before_decoding():
    blob = huge_png()
    assert len(blob) < 200
    with pytest.raises(SkipFile, match="too large: 900,000,000 pixels, over the limit of 40,000,000"):
        load_untrusted(blob)


def test_opener_never_sniffs_postscript():
    with Image.open(io.BytesIO(EPS)) as im:  # what Pillow would do on its own: EPS, i.e. Ghostscript on load
        assert im.format == "EPS"
    with pytest.raises(SkipFile, match="not an image"):
        load_untrusted(EPS)
    assert load_untrusted(png()).size == (24, 24)


def test_import_skips_a_huge_png_and_refuses_a_set_of_only_that(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "huge.png").write_bytes(huge_png())
    (src / "eps.png").write_bytes(EPS)
    with pytest.raises(DatasetError) as info:
        import_dataset(src, "bombs")
    assert "too large" in str(info.value) and "Traceback" not in str(info.value)
    (src / "ok.png").write_bytes(png())
    report = import_dataset(src, "mixed")
    assert report.imported == 1
    reasons = dict(report.skipped)
    assert "too large: 900,000,000 pixels" in reasons["huge.png"] and reasons["eps.png"] == "not an image"


def test_superres_output_is_bounded():
    with pytest.raises(R.RestoreError, match="over the .*-pixel limit for a result"):
        R.superres(Image.new("L", (1500, 1500)), 4, "bicubic")
    with pytest.raises(R.RestoreError, match="over the .*-pixel limit; reduce it first"):
        R.superres(Image.new("L", (2100, 2100)), 2, "bicubic")
    reduced, note = R.fit_pixels(Image.new("L", (3000, 2000)), 1_000_000)
    assert reduced.size[0] * reduced.size[1] <= 1_000_000 and "reduced from 3000x2000" in note
    assert R.superres(Image.new("L", (32, 32)), 4, "bicubic").image.size == (128, 128)


def test_cli_superres_refuses_a_huge_png(tmp_path):
    src = tmp_path / "huge.png"
    src.write_bytes(huge_png())
    done = subprocess.run([sys.executable, "-m", "gan_core", "superres", "--method", "bicubic", "--image", str(src),
                           "--out", str(tmp_path / "out.png")], capture_output=True, text=True, env=run_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 1 and "too large: 900,000,000 pixels" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out.png").exists()


def test_super_resolve_page_refuses_a_huge_upload():
    at = AppTest.from_file(str(PAGES / "6_Super_resolve.py"), default_timeout=60)
    at.run()
    at.radio(key="sr_source").set_value("Upload").run()
    at.file_uploader(key="sr_upload").set_value(("huge.png", huge_png(), "image/png")).run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("too large: 900,000,000 pixels" in e.value for e in at.error), [e.value for e in at.error]


def test_super_resolve_page_reduces_a_large_upload_to_bound_the_result():
    at = AppTest.from_file(str(PAGES / "6_Super_resolve.py"), default_timeout=60)
    at.run()
    at.radio(key="sr_source").set_value("Upload").run()
    at.file_uploader(key="sr_upload").set_value(("big.png", png((1800, 1200)), "image/png")).run()
    at.checkbox(key="sr_demo").uncheck().run()
    at.radio(key="sr_method").set_value("bicubic").run()
    at.button(key="sr_run_button").click().run()
    assert not at.exception, [e.message for e in at.exception]
    notes = [i.value for i in at.info]
    assert any("reduced from 1800x1200" in n for n in notes), notes
    result = at.session_state["sr_result"]["result"]
    assert result is not None and result.image.size[0] * result.image.size[1] <= R.MAX_OUTPUT_PIXELS


# ---- deleting data sets: only the studio's own, to a trash that restores -----------------------
def import_small(tmp_path, name: str) -> Path:
    src = tmp_path / f"src-{name}"
    src.mkdir(exist_ok=True)
    for i in range(3):
        (src / f"{i}.png").write_bytes(png(colour=(i * 60, 10, 10)))
    import_dataset(src, name)
    return data.data_root() / name


def test_delete_moves_to_trash_and_restore_brings_it_back(tmp_path):
    folder = import_small(tmp_path, "pets")
    files = sorted(p.name for p in folder.iterdir())
    where = delete_dataset("pets")
    assert not folder.exists() and where.parent == data.data_root() / ".trash" and where.name.startswith("pets-")
    assert [t.name for t in trashed_datasets()] == ["pets"]
    assert "pets" not in [d.name for d in data.list_datasets()]
    restore_dataset("pets")
    assert sorted(p.name for p in folder.iterdir()) == files and trashed_datasets() == []
    with pytest.raises(DatasetError, match="no data set named 'pets' in the trash"):
        restore_dataset("pets")


def test_only_studio_imported_sets_can_be_deleted(tmp_path):
    hand = data.data_root() / "handmade"
    hand.mkdir(parents=True)
    (hand / "a.png").write_bytes(png())
    with pytest.raises(DatasetError, match="not imported by GAN Studio"):
        delete_dataset("handmade")
    assert (hand / "a.png").exists()
    import_small(tmp_path, "mine")
    delete_dataset("mine")
    import_small(tmp_path, "mine")  # a new set of the same name: restore must not overwrite it
    with pytest.raises(DatasetError, match="exists again"):
        restore_dataset("mine")


def test_cli_data_delete_and_restore(tmp_path):
    import_small(tmp_path, "cli-set")
    assert data_cli(["delete", "cli-set"]) == 0
    assert not (data.data_root() / "cli-set").exists()
    assert data_cli(["restore", "cli-set"]) == 0
    assert (data.data_root() / "cli-set" / "import_report.json").is_file()
    assert data_cli(["restore", "cli-set"]) == 2


def test_old_trash_goes_by_itself_and_empty_trash_clears_the_rest(tmp_path, monkeypatch, capsys):
    """Replacing a set again and again must not fill the disk: sets trashed more than
    GAN_TRASH_DAYS ago are removed when the next one arrives; `data empty-trash` clears the rest."""
    import_small(tmp_path, "old")
    old = delete_dataset("old")
    aged = old.with_name("old-20200101-000000")  # as if deleted years ago
    old.rename(aged)
    stray = aged.parent / "notes-by-hand"  # not a trash entry's name: never touched
    stray.mkdir()
    monkeypatch.setenv("GAN_TRASH_DAYS", "7")
    import_small(tmp_path, "new")
    recent = delete_dataset("new")
    assert not aged.exists() and recent.is_dir() and stray.is_dir()
    assert [t.name for t in trashed_datasets()] == ["new"]
    assert data_cli(["empty-trash", "--older-than", "1"]) == 0 and recent.is_dir()  # a day old? not yet
    assert data_cli(["empty-trash"]) == 0 and "Removed 1 data set" in capsys.readouterr().out
    assert trashed_datasets() == [] and stray.is_dir()


def test_data_page_delete_then_restore_from_trash(tmp_path):
    import_small(tmp_path, "pagecats")
    at = AppTest.from_file(str(PAGES / "2_Data.py"), default_timeout=60).run()
    at.radio(key="data_pick").set_value("pagecats").run()
    at.button(key="delete_pagecats").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not (data.data_root() / "pagecats").exists()
    entry = trashed_datasets()[0]
    at.run()
    at.button(key=f"restore_{entry.path.name}").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert (data.data_root() / "pagecats" / "import_report.json").is_file()
    assert any(o.startswith("pagecats") for o in at.radio(key="data_pick").options)


# ---- bounded storage: upload requests, stored image size, free disk, sample grids -----------
def test_upload_request_caps(monkeypatch):
    monkeypatch.setenv("GAN_UPLOAD_MAX_FILES", "2")
    assert "3 files in one upload; the limit is 2" in upload_problem([10, 10, 10])
    monkeypatch.setenv("GAN_UPLOAD_MAX_MB", "1")
    assert "GAN_UPLOAD_MAX_MB" in upload_problem([2**20, 1])
    assert upload_problem([2**19, 2**19]) is None


def test_data_page_refuses_too_many_files_in_one_upload(monkeypatch):
    monkeypatch.setenv("GAN_UPLOAD_MAX_FILES", "2")
    at = AppTest.from_file(str(PAGES / "2_Data.py"), default_timeout=60).run()
    at.file_uploader(key="upload_files").set_value([(f"{i}.png", png(), "image/png") for i in range(3)])
    at.text_input(key="import_name").set_value("three")
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("3 files in one upload; the limit is 2 (GAN_UPLOAD_MAX_FILES)" in e.value for e in at.error)
    assert not (data.data_root() / "three").exists()


def test_import_stores_images_at_a_bounded_size(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_IMPORT_MAX_SIDE", "64")
    src = tmp_path / "wide"
    src.mkdir()
    (src / "wide.png").write_bytes(png((300, 100)))
    (src / "small.png").write_bytes(png((40, 30)))
    import_dataset(src, "wide")
    sizes = sorted(Image.open(p).size for p in (data.data_root() / "wide").glob("*.png"))
    assert sizes == [(40, 30), (64, 21)]


def test_import_and_launch_refused_when_the_disk_is_nearly_full(tmp_path, monkeypatch, studio_dirs):
    monkeypatch.setenv("GAN_MIN_FREE_MB", str(10**12))  # more than any disk has
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(png())
    with pytest.raises(DatasetError, match="not enough free disk for importing 'full'.*GAN_MIN_FREE_MB"):
        import_dataset(src, "full")
    assert not (data.data_root() / "full").exists()
    cfg = TrainConfig.from_dict({"data": "shapes", "resolution": 16, "width": 8, "steps": 5})
    with pytest.raises(JobError, match="not enough free disk for launching full-run"):
        jobs.launch(cfg, "full-run")
    assert not (studio_dirs[0] / "full-run").exists()


def test_sample_grids_thinned_past_the_retention_limit(studio_dirs, monkeypatch):
    monkeypatch.setenv("GAN_SAMPLE_KEEP", "40")
    monkeypatch.setenv("GAN_SAMPLE_KEEP_RECENT", "10")
    run = RunDir.create("long", TrainConfig.from_dict({"data": "shapes", "resolution": 16}), studio_dirs[0])
    grid = png((18, 18))
    for step in range(0, 100_000 + 1, 500):  # 201 grids, as a 100 k-step run at sample_every 500 writes
        run.sample_path(step).write_bytes(grid)
    assert run.thin_samples() == 201 - 40
    steps = [s for s, _ in run.sample_grids()]
    assert len(steps) == 40 and steps[0] == 0 and steps[-10:] == list(range(95_500, 100_001, 500))
    early, late = [s for s in steps[1:-10] if s < 10_000], [s for s in steps[1:-10] if s >= 50_000]
    assert len(early) > len(late)  # log-spaced: the early steps, where images change most, are denser
    assert run.thin_samples() == 0  # stable: a second pass keeps the same 40
    assert grids_to_keep([1, 2, 3], 40, 10) == {1, 2, 3}
