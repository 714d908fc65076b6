"""gan_core.data: built-ins, folder/zip sets, conversions, splits, CLI. Small and fast."""
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core.cli.data import data_cli
from gan_core import data
from gan_core.data.cache_files import write_cache_file
from gan_core.data.images import DatasetError, load_dataset

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated_data_root(tmp_path, monkeypatch):
    """Every test gets its own empty data root and no Fashion-MNIST override."""
    monkeypatch.setenv("GAN_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("GAN_FASHION_MNIST", raising=False)
    data.clear_cache()
    yield
    data.clear_cache()


def save(path: Path, im: Image.Image, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format=fmt)
    return path


def solid(colour, size=(12, 12), mode="RGB") -> Image.Image:
    return Image.new(mode, size, colour)


def check_set(s, n, channels, resolution):
    assert s.images.shape == (n, channels, resolution, resolution)
    assert s.images.dtype == torch.float32 and s.images.is_contiguous()
    assert s.images.min() >= -1 and s.images.max() <= 1


# ---------------------------------------------------------------------------- built-ins


def test_shapes_are_labelled_deterministic_and_in_range():
    s = load_dataset("shapes", 32, 3, limit=40)
    check_set(s, 40, 3, 32)
    assert s.classes[:3] == ["circle", "square", "triangle"]
    assert s.labels.dtype == torch.int64 and set(s.labels.tolist()) == set(range(len(s.classes)))
    a, la = data.make_shapes(12, 24, seed=3)
    b, lb = data.make_shapes(30, 24, seed=3)
    assert torch.equal(a, b[:12]) and torch.equal(la, lb[:12])  # prefix-stable, deterministic
    assert not torch.equal(a, data.make_shapes(12, 24, seed=4)[0])
    assert a.std() > 0.1  # not blank


def test_shapes_splits_channels_and_default_sizes():
    train, test = load_dataset("shapes", 16, 1), load_dataset("shapes", 16, 1, split="test")
    check_set(train, 2048, 1, 16)
    check_set(test, 256, 1, 16)
    assert not torch.equal(train.images[:8], test.images[:8])


def test_render_shape_single_and_batched_agree():
    one = data.render_shape(0, 0.5, 0.5, 0.6, (1.0, 0.0, 0.0), 16)
    assert one.shape == (3, 16, 16)
    assert one[0, 8, 8] == pytest.approx(1.0) and one[0, 0, 0] == pytest.approx(-1.0)
    many = data.render_shapes([0, 2], [0.5, 0.3], [0.5, 0.3], [0.6, 0.4],
                              [(1, 0, 0), (0, 1, 0)], 16)
    assert torch.allclose(many[0], one)


def test_digits_split_80_20():
    train, test = load_dataset("digits", 16, 3), load_dataset("digits", 16, 3, split="test")
    check_set(train, 1438, 3, 16)
    assert len(test) == 1797 - 1438
    assert train.classes == [str(i) for i in range(10)]
    assert torch.equal(train.images[:, 0], train.images[:, 1])  # grey repeated


def test_cached_object_is_reused():
    assert load_dataset("digits", 8, 1, limit=5) is load_dataset("digits", 8, 1, limit=5)


@pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_from_system_files():
    train = load_dataset("fashion-mnist", 32, 1, limit=64)
    test = load_dataset("fashion-mnist", 28, 3, split="test", limit=64)
    check_set(train, 64, 1, 32)
    check_set(test, 64, 3, 28)
    assert train.classes == data.FASHION_CLASSES and len(train.classes) == 10
    assert train.labels.max() < 10
    held_out = load_dataset("fashion-mnist", 32, 1, split="test", limit=64)
    assert not torch.equal(train.images, held_out.images)


def test_missing_fashion_mnist_names_apt_package(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("GAN_FASHION_MNIST", str(empty))
    with pytest.raises(DatasetError, match="dataset-fashion-mnist") as info:
        load_dataset("fashion-mnist", 32, 1)
    assert str(empty) in str(info.value)
    assert not data.list_datasets()[0].available


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_fashion_idx_from_env_dir_and_truncated_file(tmp_path, monkeypatch):
    folder = tmp_path / "fm"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", np.full((3, 28, 28), 255))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([1, 2, 3]))
    monkeypatch.setenv("GAN_FASHION_MNIST", str(folder))
    s = load_dataset("fashion-mnist", 8, 1)
    assert s.labels.tolist() == [1, 2, 3] and torch.allclose(s.images, torch.ones(3, 1, 8, 8))
    raw = gzip.decompress((folder / "train-images-idx3-ubyte.gz").read_bytes())
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-10]))
    data.clear_cache()
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz.*truncated"):
        load_dataset("fashion-mnist", 8, 1)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz"):
        load_dataset("fashion-mnist", 8, 1)


def test_missing_torchvision_sets_say_how_to_get_them():
    with pytest.raises(DatasetError, match="data download mnist"):
        load_dataset("mnist", 28, 1)


# ---------------------------------------------------------------------------- folders


def test_class_subfolders_become_sorted_labels(tmp_path):
    for cls, colour in (("zebra", (255, 255, 255)), ("apple", (0, 0, 0))):
        for i in range(3):
            save(tmp_path / "set" / cls / f"{i}.png", solid(colour, (20, 10)))
    s = load_dataset(str(tmp_path / "set"), 8, 3)
    check_set(s, 6, 3, 8)
    assert s.classes == ["apple", "zebra"]
    assert s.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.allclose(s.images[0], -torch.ones(3, 8, 8))  # apple: black
    assert torch.allclose(s.images[3], torch.ones(3, 8, 8), atol=1e-6)
    assert s.report.imported == 6 and not s.report.skipped


def test_flat_folder_is_unconditional_and_wrapper_folder_looked_through(tmp_path):
    for i in range(4):
        save(tmp_path / "outer" / "only" / f"{i}.jpg", solid((200, 10, 10), (16, 16)), "JPEG")
    s = load_dataset(str(tmp_path / "outer"), 16, 3)
    assert s.labels is None and s.classes == [] and len(s) == 4


def test_modes_are_converted(tmp_path):
    folder = tmp_path / "modes"
    rgba = Image.new("RGBA", (8, 8), (255, 255, 255, 0))  # fully transparent white
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 255, 0] + [0] * 765)
    wide = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))  # 16-bit white
    mid = Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16))  # 16-bit 128/255
    images = {"a_rgba.png": rgba, "b_p.png": pal, "c_16.png": wide, "d_16mid.png": mid,
              "e_l.png": solid(255, mode="L"), "f_la.png": Image.new("LA", (8, 8), (255, 255)),
              "g_1.png": Image.new("1", (8, 8), 1),
              "h_f.tiff": Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32)),
              "i_cmyk.jpg": Image.new("CMYK", (8, 8), (0, 0, 0, 0))}
    for fname, im in images.items():
        save(folder / fname, im, "TIFF" if fname.endswith("tiff") else
             "JPEG" if fname.endswith("jpg") else "PNG")
    s = load_dataset(str(folder), 8, 3)
    assert len(s) == len(images) and not s.report.skipped
    centre = s.images[:, :, 4, 4]
    assert torch.allclose(centre[0], -torch.ones(3))  # RGBA on black
    assert torch.allclose(centre[1], torch.tensor([-1.0, 1.0, -1.0]))  # palette green
    assert torch.allclose(centre[2], torch.ones(3))  # 16-bit max -> 255
    assert centre[3, 0] == pytest.approx(128 / 127.5 - 1, abs=1e-5)  # scaled, not clipped
    assert torch.allclose(centre[4:7], torch.ones(3, 3))  # L, LA opaque, 1-bit
    assert centre[7, 0] == pytest.approx(128 / 127.5 - 1, abs=0.01)  # float 0.5
    grey = load_dataset(str(folder), 8, 1)
    assert grey.images.shape == (len(images), 1, 8, 8)


def test_corrupt_files_skipped_and_counted(tmp_path):
    folder = tmp_path / "mixed"
    for i in range(3):
        save(folder / f"good{i}.png", solid((9, 9, 9)))
    buf = io.BytesIO()
    solid((1, 2, 3), (64, 64)).save(buf, "PNG")
    (folder / "truncated.png").write_bytes(buf.getvalue()[:60])
    (folder / "notes.txt").write_text("hello")
    (folder / ".DS_Store").write_bytes(b"\0" * 10)
    s = load_dataset(str(folder), 8, 3)
    assert len(s) == 3 and s.report.imported == 3
    reasons = dict(s.report.skipped)
    assert reasons["notes.txt"] == "not an image"
    assert reasons["truncated.png"].startswith("corrupt")
    assert "skipped 3" in s.report.summary()


def test_only_junk_is_a_clear_error(tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"garbage")
    (folder / "b.txt").write_text("text")
    with pytest.raises(DatasetError, match="no usable images.*2 files skipped"):
        load_dataset(str(folder), 8, 1)


def test_mixed_layout_ignores_top_level_files(tmp_path):
    save(tmp_path / "m" / "top.png", solid((0, 0, 0)))
    save(tmp_path / "m" / "cls" / "in.png", solid((0, 0, 0)))
    save(tmp_path / "m" / "cls2" / "deep" / "in.png", solid((0, 0, 0)))
    s = load_dataset(str(tmp_path / "m"), 8, 1)
    assert s.classes == ["cls", "cls2"] and s.labels.tolist() == [0, 1]
    assert s.report.skipped[0][0] == "top.png"
    assert s.report.skipped[0][1].startswith("outside class folders")


def test_folder_split_holds_out_every_tenth_and_limit(tmp_path):
    for i in range(20):
        save(tmp_path / "many" / f"{i:02d}.png", solid((i * 10, 0, 0)))
    train = load_dataset(str(tmp_path / "many"), 4, 3)
    test = load_dataset(str(tmp_path / "many"), 4, 3, split="test")
    assert len(train) == 18 and len(test) == 2
    red = lambda s: {round(float(v), 3) for v in s.images[:, 0, 0, 0]}  # noqa: E731
    assert not red(train) & red(test)
    assert len(load_dataset(str(tmp_path / "many"), 4, 3, limit=5)) == 5
    for i in range(3):
        save(tmp_path / "few" / f"{i}.png", solid((0, 0, 0)))
    assert len(load_dataset(str(tmp_path / "few"), 4, 3, split="test")) == 3


def test_non_square_is_centre_cropped(tmp_path):
    im = Image.new("L", (30, 10), 0)
    im.paste(255, (10, 0, 20, 10))  # white centre square, black sides
    save(tmp_path / "wide" / "x.png", im)
    s = load_dataset(str(tmp_path / "wide"), 10, 1)
    assert torch.allclose(s.images, torch.ones(1, 1, 10, 10))


def test_zip_loads_directly(tmp_path):
    path = tmp_path / "set.zip"
    with zipfile.ZipFile(path, "w") as z:
        for cls in ("a", "b"):
            buf = io.BytesIO()
            solid((5, 5, 5)).save(buf, "PNG")
            z.writestr(f"top/{cls}/x.png", buf.getvalue())
    s = load_dataset(str(path), 8, 3)
    assert s.classes == ["a", "b"] and len(s) == 2


def test_bad_arguments_and_unknown_names():
    with pytest.raises(DatasetError, match="channels"):
        load_dataset("shapes", 8, 2)
    with pytest.raises(DatasetError, match="split"):
        load_dataset("shapes", 8, 3, split="val")
    with pytest.raises(DatasetError, match="unknown data set"):
        load_dataset("no-such-set", 8, 3)
    assert "nothing" in data.describe_requirements("shapes")
    assert "apt" in data.describe_requirements("fashion-mnist")


def test_cli_import_list_delete(tmp_path, capsys):
    for i in range(2):
        save(tmp_path / "src" / f"{i}.png", solid((0, 0, 0)))
    (tmp_path / "src" / "bad.png").write_bytes(b"x")
    assert data_cli(["import", str(tmp_path / "src"), "--name", "mine"]) == 0
    out = capsys.readouterr().out
    assert "Imported 2 images" in out and "bad.png" in out
    assert data_cli(["list"]) == 0
    assert "mine" in capsys.readouterr().out
    assert len(load_dataset("mine", 8, 1)) == 2
    assert data_cli(["import", str(tmp_path / "src"), "--name", "mine"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert data_cli(["delete", "mine"]) == 0
    assert data_cli(["delete", "mine"]) == 2
    assert data_cli(["--help"]) == 0
    assert data_cli(["bogus"]) == 2


def test_a_set_imported_from_the_data_page_keeps_its_report(tmp_path):
    """The Data page records the importer in the report (``created_by``); the listing then read
    it as no report at all: "folder placed by hand", the skipped files' summary gone."""
    from gan_core.access import ownership
    from gan_core.access.identity import Identity

    for i in range(4):
        save(tmp_path / "src" / ("cats", "dogs")[i % 2] / f"{i}.png", solid((i * 40, 0, 0)))
    (tmp_path / "src" / "cats" / "bad.png").write_bytes(b"x")
    data.import_dataset(tmp_path / "src", "pets")
    ownership.record_dataset_owner("pets", Identity("local:me", "local"))
    info = next(d for d in data.list_datasets() if d.name == "pets")
    assert info.note == "Imported 4 images in 2 classes; skipped 1 (1 not an image)" and info.count == 4
    assert ownership.dataset_owner("pets") == "local:me"


def test_download_failure_is_a_clear_error(monkeypatch):
    from gan_core.torch_utils.vision import torchvision

    def offline(**kwargs):
        raise RuntimeError("Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DatasetError, match="No internet"):
        data.download_builtin("mnist")
    with pytest.raises(DatasetError, match="need no download"):
        data.download_builtin("shapes")


def test_cache_files_appear_whole_or_not_at_all(tmp_path):
    path = tmp_path / "cache" / "edges-ab.npy"
    assert write_cache_file(path, lambda f: np.save(f, np.arange(5), allow_pickle=False))
    assert np.array_equal(np.load(path), np.arange(5)) and path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["edges-ab.npy"]

    def disk_full(f):
        f.write(b"half a file")
        raise OSError(28, "No space left on device")

    def interrupted(f):
        f.write(b"half a file")
        raise KeyboardInterrupt

    assert not write_cache_file(path, disk_full)  # the old file stays, no temp file is left behind
    assert np.array_equal(np.load(path), np.arange(5)) and [p.name for p in path.parent.iterdir()] == ["edges-ab.npy"]
    with pytest.raises(KeyboardInterrupt):  # not swallowed, and not left half written either
        write_cache_file(path, interrupted)
    assert [p.name for p in path.parent.iterdir()] == ["edges-ab.npy"]
    (tmp_path / "file").write_text("")
    assert not write_cache_file(tmp_path / "file" / "sub" / "x.npz", lambda f: f.write(b"x"))  # not a folder


def test_a_set_too_big_for_memory_is_refused_before_decoding(tmp_path):
    """Every set trains from one in-memory tensor: 4096 px (the largest size allowed) of enough
    tiny files would need twice this machine's free memory, and must be refused with the numbers,
    not fill the memory until the kernel kills the trainer."""
    from gan_core.data.limits import memory_available

    free = memory_available()
    if free is None:
        pytest.skip("no /proc/meminfo here")
    n = 2 * free // (3 * 4096**2 * 5) + 12
    for i in range(n):
        save(tmp_path / "huge" / f"{i:04d}.png", solid((i % 256, 0, 0), size=(1, 1)))
    with pytest.raises(DatasetError, match=r"images at 4096 px need about [\d,.]+ GiB of memory.*lower resolution"):
        load_dataset(str(tmp_path / "huge"), 4096, 3)
    assert len(load_dataset(str(tmp_path / "huge"), 8, 3)) == n - n // 10  # the same files at a size that fits
