"""gan_core.data.importer: hostile archives and folders, clean imports, names, deletion."""
import io
import json
import os
import stat
import struct
import tempfile
import time
import uuid
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from gan_core import data
from gan_core.data.trash import delete_dataset
from gan_core.data.importer import (
    DatasetError,
    ImportReport,
    SkipFile,
    decode_image,
    import_dataset,
    safe_parts,
    validate_name,
)


@pytest.fixture(autouse=True)
def isolated_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA", str(tmp_path / "data"))
    data.clear_cache()
    yield
    data.clear_cache()


def png(colour=(10, 20, 30), size=(8, 8), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return buf.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size, with only a few rows of data (cheap)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    rows = zlib.compress(b"\0" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def make_zip(path: Path, entries) -> Path:
    """entries: (name, bytes) or (ZipInfo, bytes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, body in entries:
                z.writestr(name, body)
    return path


def listing(base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*")}


def new_outside(before: set[str], after: set[str], allowed: str) -> set[str]:
    return {p for p in after - before if p != allowed and not p.startswith(allowed + os.sep)}


# ---------------------------------------------------------------------------- zips


def test_traversal_and_absolute_entries_refused(tmp_path):
    marker = f"/tmp/gan-studio-test-{uuid.uuid4().hex}.png"
    src = make_zip(tmp_path / "evil.zip", [
        ("../evil.png", png()), (marker, png()), ("ok/../../evil2.png", png()),
        ("C:/evil3.png", png()), ("..\\evil4.png", png()), ("sub\\..\\x.png", png()),
        ("good.png", png()),
    ])
    root = tmp_path / "root"
    before = listing(tmp_path)
    report = import_dataset(src, "evil", root)
    assert report.imported == 1
    reasons = dict(report.skipped)
    for name in ("../evil.png", marker, "ok/../../evil2.png", "C:/evil3.png", "..\\evil4.png"):
        assert reasons[name] == "unsafe path"
    assert not Path(marker).exists()
    assert new_outside(before, listing(tmp_path), "root") == set()
    assert set(os.listdir(root)) == {"evil"}


def test_symlink_and_special_entries_refused(tmp_path):
    link = zipfile.ZipInfo("link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    fifo = zipfile.ZipInfo("fifo.png")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    src = make_zip(tmp_path / "links.zip", [(link, b"/etc/passwd"), (fifo, b""), ("real.png", png())])
    report = import_dataset(src, "links", tmp_path / "root")
    assert dict(report.skipped) == {"link.png": "symlink not followed", "fifo.png": "not a regular file"}
    assert report.imported == 1


def test_junk_reported_and_report_written(tmp_path):
    src = make_zip(tmp_path / "j.zip", [
        ("cats/a.png", png()), ("cats/b.png", png(size=(40, 40))[:-30]),
        ("dogs/c.png", png((200, 0, 0))), ("dogs/readme.txt", b"hello"),
        ("__MACOSX/cats/._a.png", b"\0\5\26\7"),
    ])
    root = tmp_path / "root"
    report = import_dataset(src, "pets", root)
    assert report.imported == 2 and report.classes == ["cats", "dogs"]
    reasons = dict(report.skipped)
    assert reasons["dogs/readme.txt"] == "not an image"
    assert reasons["cats/b.png"].startswith("corrupt")
    assert reasons["__MACOSX/cats/._a.png"] == "hidden or system file"
    assert report.summary().startswith("Imported 2 images in 2 classes; skipped 3 (")
    saved = json.loads((root / "pets" / "import_report.json").read_text())
    assert ImportReport(**saved).imported == 2
    stored = sorted(p.relative_to(root / "pets").as_posix() for p in (root / "pets").rglob("*.png"))
    assert [s.split("/")[0] for s in stored] == ["cats", "dogs"]
    assert Image.open(root / "pets" / stored[0]).mode == "RGB"


def test_zip_bomb_refused_quickly_without_writing(tmp_path):
    bomb = tmp_path / "bomb.zip"
    zeros = bytes(1024 * 1024)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("bomb.png", "w", force_zip64=True) as f:
            for _ in range(300):  # 300 MB of zeros, ~300 KB compressed
                f.write(zeros)
    assert bomb.stat().st_size < 5 * 1024 * 1024
    root = tmp_path / "root"
    start = time.monotonic()
    with pytest.raises(DatasetError, match="exceeds.*limit"):
        import_dataset(bomb, "bomb", root, max_total_bytes=50 * 1024**2)
    assert time.monotonic() - start < 10
    assert not (root / "bomb").exists()
    assert not root.exists() or list(root.iterdir()) == []  # no temp folder left
    big = [p for p in tmp_path.rglob("*") if p.is_file() and p.stat().st_size > 5 * 1024 * 1024]
    assert big == []


def test_total_limit_counts_bytes_actually_read(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.png").write_bytes(png(size=(64, 64)) + bytes(2000))
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match="exceeds the .* total size limit"):
        import_dataset(src, "t", root, max_total_bytes=5000)
    assert list(root.iterdir()) == []


def test_oversized_file_skipped_and_too_many_files_refused(tmp_path):
    src = make_zip(tmp_path / "s.zip", [("big.png", bytes(5000)), ("ok.png", png())])
    report = import_dataset(src, "s", tmp_path / "root", max_file_bytes=4000)
    assert dict(report.skipped)["big.png"].startswith("too big")
    many = make_zip(tmp_path / "m.zip", [(f"{i}.png", png()) for i in range(5)])
    with pytest.raises(DatasetError, match="file limit"):
        import_dataset(many, "m", tmp_path / "root", max_files=3)


def test_huge_image_refused_without_decoding(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(huge_png(30000, 30000))  # Pillow's own bomb limit
    (folder / "big.png").write_bytes(huge_png(7000, 7000))  # over our 40 MP only
    (folder / "fine.png").write_bytes(png())
    start = time.monotonic()
    report = import_dataset(folder, "huge", tmp_path / "root")
    assert time.monotonic() - start < 5
    reasons = dict(report.skipped)
    assert reasons["big.png"].startswith("too large: 7000x7000 pixels, over the limit of 40,000,000")
    assert reasons["bomb.png"].startswith("too large")
    assert report.imported == 1


def test_not_a_zip_or_missing_source(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"PK not really")
    with pytest.raises(DatasetError, match="not a readable zip"):
        import_dataset(tmp_path / "fake.zip", "x", tmp_path / "root")
    with pytest.raises(DatasetError, match="does not exist"):
        import_dataset(tmp_path / "nope", "x", tmp_path / "root")


# ---------------------------------------------------------------------------- folders


def test_folder_import_then_load_list_overwrite(tmp_path):
    src = tmp_path / "src"
    for cls in ("cats & dogs", "birds"):
        (src / cls).mkdir(parents=True)
        for i in range(3):
            (src / cls / f"{i}.png").write_bytes(png((i * 50, 0, 0)))
    root = Path(os.environ["GAN_DATA"])
    report = import_dataset(src, "animals")
    assert report.imported == 6 and report.classes == ["birds", "cats_dogs"]
    s = data.load_dataset("animals", 8, 3)
    assert len(s) == 6 and s.classes == ["birds", "cats_dogs"] and not s.report.skipped
    info = {i.name: i for i in data.list_datasets()}["animals"]
    assert info.kind == "imported" and info.available and info.count == 6
    with pytest.raises(DatasetError, match="already exists"):
        import_dataset(src, "animals")
    (src / "birds" / "3.png").write_bytes(png())
    assert import_dataset(src, "animals", overwrite=True).imported == 7
    assert len(data.load_dataset("animals", 8, 3)) == 7  # cache follows the new set
    assert sorted(p.name for p in root.iterdir()) == [".trash", "animals"]  # no temporary folder left
    (old,) = (root / ".trash").iterdir()  # the replaced set is kept, restorable
    assert len(list(old.rglob("*.png"))) == 6


def test_animations_are_imported_whole_and_train_as_clips(tmp_path):
    """An imported GIF kept its first frame only: a set of clips imported on the Data page could
    not train the video GAN ("not a clip: a single frame"). Stills stay plain PNGs."""
    from gan_core.data.clips import load_clips
    from gan_core.data.images import load_dataset

    src = tmp_path / "src"
    for i, cls in enumerate(("balls", "boxes") * 2):
        (src / cls).mkdir(parents=True, exist_ok=True)
        frames = [Image.new("RGB", (24, 20), (40 * t, 60 * i, 90)) for t in range(5)]
        frames[0].save(src / cls / f"c{i}.gif", save_all=True, append_images=frames[1:], duration=80, loop=0)
    (src / "balls" / "still.png").write_bytes(png())
    report = import_dataset(src, "clips")
    assert report.imported == 5 and not report.skipped
    stored = sorted((Path(os.environ["GAN_DATA"]) / "clips").rglob("*.png"))
    assert [Image.open(p).n_frames for p in stored] == [5, 5, 1, 5, 5]
    clips = load_clips("clips", 16, 3, 4)
    assert clips.clips.shape == (4, 4, 3, 16, 16)  # the report file is no skipped clip:
    assert clips.report.skipped == [("balls/000002-still.png", "not a clip: a single frame (give animated GIF, WebP or PNG files)")]
    assert len(load_dataset("clips", 16, 3)) == 5  # an image GAN reads each file's first frame


def test_folder_symlinks_and_fifos_not_followed(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(png())
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.png").write_bytes(png())
    (src / "link.png").symlink_to(outside)
    (src / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(src / "pipe.png")
    report = import_dataset(src, "links", tmp_path / "root")
    assert report.imported == 1
    assert dict(report.skipped) == {"link.png": "symlink not followed",
                                    "linkdir": "symlink not followed",
                                    "pipe.png": "not a regular file"}


def test_failed_import_leaves_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(b"junk")
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match="no usable images"):
        import_dataset(src, "junk", root)
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "-x", "x" * 65, "mnist",
                                  "shapes", "Fashion-MNIST", "MNIST", "cifar-10-batches-py"])
def test_bad_names_refused(tmp_path, name):
    with pytest.raises(DatasetError):
        validate_name(name)
    with pytest.raises(DatasetError):
        delete_dataset(name, tmp_path)


def test_delete(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(png())
    root = tmp_path / "root"
    import_dataset(src, "gone", root)
    delete_dataset("gone", root)
    assert [p.name for p in root.iterdir()] == [".trash"]  # moved there, not removed (test_bounded_inputs restores)
    with pytest.raises(DatasetError, match="no imported data set"):
        delete_dataset("gone", root)


# ---------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=40))
def test_safe_parts_never_escapes(name):
    parts = safe_parts(name)
    if parts is not None:
        assert parts and all(p not in ("", ".", "..") and "/" not in p and "\\" not in p for p in parts)


@settings(max_examples=100, deadline=None, database=None)
@given(st.binary(max_size=64), st.integers(0, 200))
def test_decode_image_only_ever_skips(noise, cut):
    """Damaged PNG/GIF/BMP bytes give an image or SkipFile, never another exception."""
    for fmt in ("PNG", "GIF", "BMP"):
        buf = io.BytesIO()
        Image.new("RGB", (6, 5), (1, 2, 3)).save(buf, fmt)
        raw = buf.getvalue()
        try:
            im = decode_image(raw[:cut] + noise + raw[cut + len(noise):])
            assert im.mode in ("L", "RGB")
        except SkipFile:
            pass


tricky = st.sampled_from(["..", "/", "\\", "../", "/etc/", "C:", ".", "a/", "x.png", "__MACOSX/",
                          "import_report.json", "..\\..\\", "//", "./"])
names = st.lists(st.one_of(tricky, st.text(st.characters(exclude_categories=("Cs",),
                                                          exclude_characters="\0"), max_size=8)),
                 min_size=1, max_size=5).map("".join)
bodies = st.one_of(st.binary(max_size=120), st.just(png()), st.just(png(mode="L", colour=3)),
                   st.binary(max_size=40).map(lambda b: png()[:30] + b))
modes = st.sampled_from([None, stat.S_IFLNK | 0o777, stat.S_IFREG | 0o644, stat.S_IFCHR | 0o600])


@settings(max_examples=50, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(names, bodies, modes), min_size=1, max_size=6))
def test_random_archives_never_crash_or_escape(entries):
    with tempfile.TemporaryDirectory() as base_dir:
        base = Path(base_dir)
        (base / "in").mkdir()
        zinfos = []
        for name, body, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.create_system, info.external_attr = 3, mode << 16
            zinfos.append((info, body))
        try:
            make_zip(base / "in" / "src.zip", zinfos)
        except Exception:  # noqa: BLE001 - names zipfile itself cannot write
            assume(False)
        before = listing(base)
        try:
            report = import_dataset(base / "in" / "src.zip", "prop", base / "root")
            assert report.imported >= 1
        except DatasetError:
            pass
        assert new_outside(before, listing(base), "root" + os.sep + "prop") <= {"root"}
        assert set(os.listdir(base / "root")) <= {"prop"}
