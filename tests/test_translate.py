"""Image-to-image translation engine: models, loss objects, paired data, translate inference.

Real data (Fashion-MNIST subsets, the procedural shapes), real files and a real
``python -m gan_core translate`` process; each test takes well under a few seconds."""
from __future__ import annotations

import io
import os
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gan_core.cli.main import main
from gan_core.cli.translate import cli_translate
from gan_core.data import FASHION_CLASSES, load_dataset
from gan_core.data.importer import DatasetError
from gan_core.data.paired import (
    PAIRED_TRANSFORMS,
    cached_edges,
    domains,
    domains_from_classes,
    domains_from_folders,
    edges,
    grey,
    hole_masks,
    input_channels,
    load_paired_folder,
    lowres,
    make_paired,
    paired_input,
)
from gan_core.inference.translate import (
    TranslateError,
    held_out_example,
    load_translator,
    open_input,
    save_translator,
)
from gan_core.models.translation import (
    PatchDiscriminator,
    ResnetGenerator,
    UNetGenerator,
    build_cyclegan,
    build_pix2pix,
)
from gan_core.runs.rundir import RunDir
from gan_core.runtypes.translation import progress_grid
from gan_core.runtypes.translation_losses import (
    CycleGANLoss,
    FakeHistory,
    Pix2PixLoss,
    adam_pair,
    train_step,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion-mnist", 32, 1, split="test", limit=256)


@pytest.fixture(scope="module")
def shapes_rgb():
    return load_dataset("shapes", 32, 3, split="test", limit=32)


# ---- models ------------------------------------------------------------------------------------
@pytest.mark.parametrize("res", [32, 64])
@pytest.mark.parametrize("ch", [1, 3])
def test_model_shapes(res, ch):
    x = torch.rand(2, ch, res, res) * 2 - 1
    G, D = build_pix2pix(1, ch, res, 8, 8)
    a = torch.rand(2, 1, res, res) * 2 - 1
    y = G(a)
    assert y.shape == (2, ch, res, res) and y.abs().max() <= 1
    patches = D(y, a)
    assert patches.dim() == 4 and patches.shape[:2] == (2, 1) and patches.shape[-1] > 1
    Gc, Dc = build_cyclegan(ch, res, 8, 8, 2)
    assert Gc(x).shape == Gc(x, reverse=True).shape == (2, ch, res, res)
    assert Dc(x, "a").shape == Dc(x, "b").shape == patches.shape


@pytest.mark.parametrize("res", [16, 128])
def test_unet_spans_16_to_128_px(res):
    G = UNetGenerator(3, 3, res, 4)
    assert G(torch.zeros(1, 3, res, res)).shape == (1, 3, res, res)


def test_patch_size_is_about_half_the_image():
    # 1, 2, 3 stride-2 layers at 32, 64, 128 px: receptive fields 16, 34, 70 px
    for res, layers in ((32, 1), (64, 2), (128, 3)):
        D = PatchDiscriminator(2, res, 8)
        assert sum(isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2) for m in D.modules()) == layers


def test_wrong_inputs_refused_clearly():
    with pytest.raises(ValueError, match=r"\[N, 1, 32, 32\]"):
        UNetGenerator(1, 3, 32, 8)(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="power-of-two"):
        ResnetGenerator(1, 1, 48)
    with pytest.raises(ValueError, match="4 channels"):
        PatchDiscriminator(4, 32, 8)(torch.zeros(1, 1, 32, 32))


def test_eval_translation_is_deterministic_and_batch_independent(fashion):
    """Instance norm and dropout off in eval: one image alone = the same image in a batch."""
    torch.manual_seed(0)
    G = UNetGenerator(1, 1, 32, 8).eval()
    a = edges(fashion.images[:4])
    with torch.no_grad():
        assert torch.allclose(G(a[:1]), G(a)[:1], atol=1e-6)
        assert torch.equal(G(a), G(a))


# ---- training with the loss objects ------------------------------------------------------------
def test_pix2pix_steps_on_fashion_edges(fashion):
    torch.manual_seed(0)
    pairs = make_paired(fashion.images[:64], "edges")
    G, D = build_pix2pix(1, 1, 32, 16, 16)
    opt_g, opt_d = adam_pair(G, D)
    loss = Pix2PixLoss()
    logs = []
    for i in range(16):  # four batches of 16, each seen at steps i, i + 4, i + 8, i + 12
        idx = torch.arange(i % 4 * 16, i % 4 * 16 + 16)
        logs.append(train_step(loss, G, D, opt_g, opt_d, pairs.a[idx], pairs.b[idx]))
    assert all(np.isfinite(v) for row in logs for v in row.values())
    assert {"loss_d", "loss_g", "d_real", "d_fake", "g_adv", "l1"} <= set(logs[0])
    first, last = np.mean([r["l1"] for r in logs[:4]]), np.mean([r["l1"] for r in logs[-4:]])
    assert last < 0.97 * first, (first, last)  # same batches, lower L1
    assert logs[0]["loss_g"] == pytest.approx(logs[0]["g_adv"] + 100 * logs[0]["l1"], rel=1e-5)


def test_cyclegan_steps_between_two_fashion_classes(fashion):
    torch.manual_seed(0)
    xa, xb = domains_from_classes(fashion.images, fashion.labels, fashion.classes, "sneaker", "ankle boot")
    G, D = build_cyclegan(1, 32, 8, 16, 2)
    opt_g, opt_d = adam_pair(G, D)
    loss = CycleGANLoss(history=8)
    logs = [train_step(loss, G, D, opt_g, opt_d, xa[i % 3 * 8:i % 3 * 8 + 8], xb[i % 3 * 8:i % 3 * 8 + 8])
            for i in range(9)]
    assert all(np.isfinite(v) for row in logs for v in row.values())
    assert {"cycle_a", "cycle_b", "identity_a", "identity_b", "g_adv_ab", "g_adv_ba", "loss_d", "loss_g"} <= set(logs[0])
    for key in ("cycle_a", "cycle_b", "loss_d"):
        assert logs[-1][key] < 0.95 * logs[0][key], (key, logs[0][key], logs[-1][key])
    assert len(loss.history_a) == len(loss.history_b) == 8  # full after 72 fakes


def _checkpoint(G, D, opt_g, opt_d, loss) -> bytes:
    """The state a run would save, through the checkpoint format (safetensors)."""
    tensors = {f"G.{k}": v for k, v in G.state_dict().items()} | {f"D.{k}": v for k, v in D.state_dict().items()}
    for name, opt in (("opt_g", opt_g), ("opt_d", opt_d)):
        for i, s in opt.state_dict()["state"].items():
            tensors |= {f"{name}.{i}.{k}": v.reshape(1) if v.dim() == 0 else v for k, v in s.items()}
    tensors |= {f"loss.{k}": v for k, v in loss.state_dict().items()}
    tensors["rng.torch"] = torch.get_rng_state()
    return st_save({k: v.contiguous() for k, v in tensors.items()})


def _restore(blob: bytes, G, D, opt_g, opt_d, loss) -> None:
    t = st_load(blob)
    G.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("G.")})
    D.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("D.")})
    for name, opt in (("opt_g", opt_g), ("opt_d", opt_d)):
        sd = opt.state_dict()
        n = len(sd["param_groups"][0]["params"])
        sd["state"] = {i: {k: (t[f"{name}.{i}.{k}"].reshape(()) if k == "step" else t[f"{name}.{i}.{k}"])
                           for k in ("step", "exp_avg", "exp_avg_sq")} for i in range(n)}
        opt.load_state_dict(sd)
    loss.load_state_dict({k[5:]: v for k, v in t.items() if k.startswith("loss.")})
    torch.set_rng_state(t["rng.torch"])


@pytest.mark.parametrize("model", ["pix2pix", "cyclegan"])
def test_exact_resume(model, fashion):
    """Train 3 steps, checkpoint, 3 more; a fresh set of objects loaded from the checkpoint
    makes the same 3 steps bit for bit (history buffers and dropout's RNG included)."""
    xa, xb = domains_from_classes(fashion.images, fashion.labels, fashion.classes, "sneaker", "ankle boot")
    if model == "pix2pix":
        xa = edges(xb)

    def fresh():
        torch.manual_seed(1)
        G, D = build_pix2pix(1, 1, 32, 8, 8) if model == "pix2pix" else build_cyclegan(1, 32, 8, 8, 1)
        loss = Pix2PixLoss() if model == "pix2pix" else CycleGANLoss(history=4, seed=3)
        return (G, D, *adam_pair(G, D), loss)

    def steps(objs, start):
        return [train_step(*objs[4:], *objs[:4], xa[i * 4:i * 4 + 4], xb[i * 4:i * 4 + 4])
                for i in range(start, start + 3)]

    objs = fresh()
    steps(objs, 0)
    blob = _checkpoint(*objs)
    expected = steps(objs, 3)
    final = {k: v.clone() for k, v in objs[0].state_dict().items()}
    other = fresh()
    _restore(blob, *other)
    assert steps(other, 3) == expected
    assert all(torch.equal(final[k], v) for k, v in other[0].state_dict().items())


def test_history_state_round_trips_through_a_checkpoint():
    torch.manual_seed(0)
    batches = [torch.randn(6, 1, 8, 8) for _ in range(14)]
    h = FakeHistory(size=10, seed=5)
    empty = st_load(st_save(h.state_dict()))  # an empty buffer saves too
    for b in batches[:4]:
        h.query(b)
    assert len(h) == 10
    saved = st_load(st_save(h.state_dict()))
    expected = [h.query(b) for b in batches[4:]]
    again = FakeHistory(size=10, seed=99)
    again.load_state_dict(saved)
    assert all(torch.equal(x, again.query(b)) for x, b in zip(expected, batches[4:]))
    # some outputs are old fakes from the buffer, some are the new ones
    assert any(not torch.equal(x, b) for x, b in zip(expected, batches[4:]))
    fresh = FakeHistory(size=10, seed=5)
    fresh.load_state_dict(empty)
    assert len(fresh) == 0 and torch.equal(fresh.query(batches[0]), batches[0])
    with pytest.raises(ValueError, match="at most 3 images"):
        FakeHistory(size=3).load_state_dict(saved)


# ---- paired transforms -------------------------------------------------------------------------
@pytest.mark.parametrize("transform", PAIRED_TRANSFORMS)
def test_paired_transforms_are_deterministic(transform, shapes_rgb):
    x = shapes_rgb.images[:16]
    one = make_paired(x, transform)
    two = make_paired(x.clone(), transform, chunk=5)  # other chunking, same bytes
    assert one.a.numpy().tobytes() == two.a.numpy().tobytes()
    assert one.a.shape == (16, input_channels(transform, 3), 32, 32)
    assert torch.equal(one.b, x) and one.a.abs().max() <= 1


def test_edge_drawings_are_cached_by_the_images_bytes(fashion, tmp_path):
    """The cache gives the same drawings as drawing again; other images are drawn afresh, a
    corrupt file is drawn again, an unwritable folder is no error."""
    x = fashion.images[:40]
    drawn = make_paired(x, "edges").a
    first = make_paired(x, "edges", cache_dir=tmp_path, chunk=16).a
    (cached,) = list(tmp_path.glob("edges-*.npy"))
    assert cached.stat().st_size < 40 * 32 * 32 / 8 + 200  # one bit a pixel
    again = make_paired(x.clone(), "edges", cache_dir=tmp_path).a
    assert torch.equal(first, drawn) and torch.equal(again, drawn)
    other = make_paired(x.flip(-1), "edges", cache_dir=tmp_path).a
    assert torch.equal(other, edges(x.flip(-1))) and len(list(tmp_path.glob("edges-*.npy"))) == 2
    np.save(cached, np.packbits(np.zeros(40 * 32 * 32, bool)))  # a cache that says "blank paper" is believed
    assert (make_paired(x, "edges", cache_dir=tmp_path).a == 1).all()
    cached.write_bytes(b"not an array")
    assert torch.equal(make_paired(x, "edges", cache_dir=tmp_path).a, drawn)
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert torch.equal(make_paired(x, "edges", cache_dir=blocked / "sub").a, drawn)
    for k in range(3):  # only the most recently used drawings stay
        cached_edges(x[k:k + 4], tmp_path / "few", keep=2)
    assert len(list((tmp_path / "few").glob("edges-*.npy"))) == 2


def test_edges_are_black_outlines_on_white(fashion):
    x = fashion.images[:64]
    e = edges(x)
    assert set(e.unique().tolist()) == {-1.0, 1.0}
    share = (e == -1).float().mean().item()
    assert 0.05 < share < 0.3, share  # a drawing: mostly white paper
    # lines follow the garment: none where the 3x3 neighbourhood is flat background
    flat = torch.nn.functional.max_pool2d(x, 3, 1, 1) <= -0.99
    assert (e[flat] == 1).all()
    # every garment gets an outline
    assert ((e == -1).flatten(1).sum(1) > 10).all()


def test_grey_lowres_masked_look(shapes_rgb, fashion):
    x = shapes_rgb.images[:8]
    g = grey(x)
    expected = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    assert torch.allclose(g, expected, atol=1e-5)
    with pytest.raises(ValueError, match="needs an RGB set"):
        paired_input(fashion.images[:2], "grey")
    low = lowres(x)
    detail = lambda t: ((t[..., 1:, :] - t[..., :-1, :]) ** 2).mean()
    assert detail(low) < 0.5 * detail(x), (detail(low), detail(x))
    m = paired_input(x, "masked", torch.arange(100, 108))
    holes = hole_masks(torch.arange(100, 108), 32)
    assert (holes.flatten(1).sum(1) == 16 * 16).all()  # a square of half the side
    assert torch.equal(m * holes, torch.zeros_like(m)) and torch.equal(m * (1 - holes), x * (1 - holes))
    # the hole is a function of the index alone, not of the batch
    assert torch.equal(hole_masks([104], 32)[0], holes[4])
    assert not torch.equal(holes[0], holes[1])


# ---- folders of real pairs ---------------------------------------------------------------------
def _png(value, size=(16, 16), mode="L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, value).save(buf, "PNG")
    return buf.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size, with only a few bytes of data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_paired_folder_two_subfolders(tmp_path):
    root = tmp_path / "pairs"
    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    for i in range(5):  # A/i.png pairs with B/i.jpg or B/i.png
        (root / "A" / f"{i}.png").write_bytes(_png(10 * i))
        Image.new("L", (16, 16), 200 - 10 * i).save(root / "B" / f"{i}.{'png' if i % 2 else 'jpg'}")
    (root / "A" / "lonely.png").write_bytes(_png(0))  # no partner
    (root / "A" / "7.png").write_bytes(b"not an image")
    (root / "B" / "7.png").write_bytes(_png(1))
    (root / "A" / "8.png").write_bytes(huge_png(9000, 9000))
    (root / "B" / "8.png").write_bytes(_png(1))
    pairs = load_paired_folder(root, 16, 1)
    assert pairs.names == [f"{i}.png" for i in range(5)] and pairs.transform == "folder"
    values_a = ((pairs.a.mean((1, 2, 3)) + 1) * 127.5).round()
    values_b = ((pairs.b.mean((1, 2, 3)) + 1) * 127.5).round()
    assert values_a.tolist() == [10.0 * i for i in range(5)]
    assert (values_a + values_b - 200).abs().max() <= 1  # each A met its own B (JPEG: +-1)
    reasons = dict(pairs.report.skipped)
    assert reasons["A/lonely.png"].startswith("no partner: no file named lonely.* in B/")
    assert reasons["A/7.png"] == "not an image" and reasons["B/7.png"].startswith("partner unusable")
    assert reasons["A/8.png"].startswith("too large: 9000x9000 pixels")


def test_paired_folder_side_by_side_in_a_zip(tmp_path):
    archive = tmp_path / "facades.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3):
            im = Image.new("RGB", (32, 16), (0, 0, 0))
            im.paste((10 * i, 0, 0), (0, 0, 16, 16))
            im.paste((0, 0, 100 + 10 * i), (16, 0, 32, 16))
            buf = io.BytesIO()
            im.save(buf, "PNG")
            z.writestr(f"facades/train/{i}.png", buf.getvalue())
        z.writestr("facades/train/square.png", _png(9))
        z.writestr("facades/train/../../evil.png", _png(9))
    pairs = load_paired_folder(archive, 16, 3)
    assert pairs.names == ["0.png", "1.png", "2.png"]
    assert torch.equal(pairs.a[:, 1:], torch.full((3, 2, 16, 16), -1.0))  # red only on the left
    assert torch.equal(pairs.b[:, :2], torch.full((3, 2, 16, 16), -1.0))  # blue only on the right
    reasons = dict(pairs.report.skipped)
    assert "not side by side: 16x16" in reasons["square.png"]  # wrapping folders looked through
    assert reasons["facades/train/../../evil.png"] == "unsafe path"


def test_paired_folder_with_nothing_usable_is_refused(tmp_path):
    root = tmp_path / "bad"
    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    (root / "A" / "x.png").write_bytes(_png(1))
    (root / "B" / "y.png").write_bytes(_png(1))
    with pytest.raises(DatasetError, match=r"no usable images.*no partner"):
        load_paired_folder(root, 16, 1)


# ---- unpaired domains --------------------------------------------------------------------------
def test_domains_from_classes(fashion):
    xa, xb = domains_from_classes(fashion.images, fashion.labels, FASHION_CLASSES, " Sneaker", "ANKLE BOOT")
    assert len(xa) == int((fashion.labels == 7).sum()) and len(xb) == int((fashion.labels == 9).sum())
    with pytest.raises(DatasetError, match=r"no class named 'boots'; classes: 'T-shirt/top', 'Trouser'"):
        domains_from_classes(fashion.images, fashion.labels, FASHION_CLASSES, "sneaker", "boots")
    with pytest.raises(DatasetError, match="same class"):
        domains_from_classes(fashion.images, fashion.labels, FASHION_CLASSES, "bag", "Bag")
    with pytest.raises(DatasetError, match="unlabelled"):
        domains_from_classes(fashion.images, None, [], "a", "b")


def test_domains_from_folders(tmp_path):
    for name, value in (("horses", 40), ("zebras", 220)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (20, 24), (value, value, value)).save(tmp_path / name / f"{i}.png")
    xa, xb = domains_from_folders(tmp_path / "horses", tmp_path / "zebras", 16, 3)
    assert xa.shape == xb.shape == (3, 3, 16, 16) and xa.mean() < 0 < xb.mean()


def test_two_folders_are_the_domains_beside_a_labelled_data_set(tmp_path, tiny, capsys):
    """--domain-a/--domain-b as two folders with a labelled --data (fashion-mnist by default)
    failed the run after creating it: "no class named '/.../horses'"."""
    for name, value in (("horses", 40), ("zebras", 220)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (20, 24), (value, value, value)).save(tmp_path / name / f"{i}.png")
    horses, zebras = str(tmp_path / "horses"), str(tmp_path / "zebras")
    xa, xb = domains("shapes", horses, zebras, 16, 1)
    assert xa.shape == xb.shape == (3, 1, 16, 16) and xa.mean() < 0 < xb.mean()
    assert [len(x) for x in domains("shapes", "circle", "square", 16, 1)] == [410, 410]  # classes as before
    with pytest.raises(DatasetError, match="no class named 'squares'"):  # a typo still names the classes
        domains("shapes", "circle", "squares", 16, 1)
    with pytest.raises(DatasetError, match="no class named"):  # one folder and one class: which did you mean?
        domains("shapes", horses, "square", 16, 1)
    flags = tiny(model="cyclegan", domain_a=horses, domain_b=zebras, width=4, batch_size=2, steps=2, log_every=1,
                 sample_every=2, checkpoint_every=2, name="hz")
    assert main(["train", *flags]) == 0, capsys.readouterr().err


# ---- translate inference -----------------------------------------------------------------------
@pytest.fixture
def pix2pix_checkpoint(tmp_path):
    torch.manual_seed(0)
    G, _ = build_pix2pix(1, 1, 32, 8, 8)
    return save_translator(tmp_path / "p2p.safetensors", G, {"model": "pix2pix", "resolution": 32, "channels": 1,
                                                              "paired_transform": "edges", "width": 8}, step=7)


@pytest.fixture
def cyclegan_checkpoint(tmp_path):
    torch.manual_seed(0)
    G, _ = build_cyclegan(3, 32, 8, 8, 2)
    return save_translator(tmp_path / "cyc.safetensors", G, {"model": "cyclegan", "resolution": 32, "channels": 3,
                                                              "width": 8, "blocks": 2}, step=3)


def test_translate_cli_writes_one_output_per_input(tmp_path, pix2pix_checkpoint, python_exe):
    inputs = tmp_path / "drawings"
    (inputs / "sub").mkdir(parents=True)
    Image.new("RGB", (50, 30), "white").save(inputs / "shoe.jpg")
    Image.new("L", (64, 64), 255).save(inputs / "boot.png")
    Image.new("RGBA", (8, 8)).save(inputs / "tiny.webp")
    Image.new("L", (8, 8)).save(inputs / "sub" / "nested.png")
    (inputs / "notes.txt").write_text("not an image")
    (inputs / ".hidden.png").write_bytes(_png(3))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([python_exe, "-m", "gan_core", "translate", "--checkpoint", str(pix2pix_checkpoint),
                           "--image-dir", str(inputs), "--out", str(out)], check=False, capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr  # one input was not an image: said, not fatal
    assert "skipped notes.txt: not an image" in proc.stderr
    assert "skipped sub: a folder" in proc.stderr and "hidden" not in proc.stderr
    assert "wrote 3 images" in proc.stdout
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["boot.png", "shoe.png", "tiny.png"]
    with Image.open(out / "shoe.png") as im:
        assert im.size == (32, 32) and im.mode == "L"
        assert im.text["model"] == "pix2pix" and im.text["source_image"] == "shoe.jpg"
        assert im.text["direction"] == "A->B" and im.text["checkpoint_step"] == "7"
        assert im.text["synthetic"] == "true" and im.text["software"] == "GAN Studio"


def test_translate_cyclegan_both_ways_and_from_a_run(tmp_path, cyclegan_checkpoint, pix2pix_checkpoint, capsys):
    src = tmp_path / "horse.png"
    Image.new("RGB", (40, 40), (200, 100, 50)).save(src)
    assert cli_translate(["--checkpoint", str(cyclegan_checkpoint), "--image", str(src), "--out", str(tmp_path / "ab.png")]) == 0
    assert cli_translate(["--checkpoint", str(cyclegan_checkpoint), "--image", str(src), "--out", str(tmp_path / "ba.png"),
                          "--reverse"]) == 0
    ab, ba = Image.open(tmp_path / "ab.png"), Image.open(tmp_path / "ba.png")
    assert ab.text["direction"] == "A->B" and ba.text["direction"] == "B->A"
    assert not np.array_equal(np.asarray(ab), np.asarray(ba))  # two different generators
    assert cli_translate(["--checkpoint", str(pix2pix_checkpoint), "--image", str(src), "--out", str(tmp_path / "x.png"),
                          "--reverse"]) == 2
    assert "--reverse needs a CycleGAN run" in capsys.readouterr().err
    # a run folder: its newest checkpoint, G_ema preferred
    run = RunDir(Path(os.environ["GAN_CHECKPOINTS"]) / "cyc-run")
    run.weights_dir.mkdir(parents=True)
    run.config_path.write_text("model: cyclegan\n")
    tensors = st_load(cyclegan_checkpoint.read_bytes())
    meta = {"config": {"model": "cyclegan", "resolution": 32, "channels": 3, "width": 8, "blocks": 2}, "run": "cyc-run"}
    # raw weights halved: the translation below matches the file's only if G_ema is used
    run.save_checkpoint(40, {**{k: v * 0.5 for k, v in tensors.items()},
                             **{"G_ema." + k[2:]: v.clone() for k, v in tensors.items()}}, meta)
    translator = load_translator("cyc-run")
    assert translator.info["weights"] == "ema" and translator.info["checkpoint_step"] == "40"
    assert cli_translate(["--run", "cyc-run", "--image", str(src), "--out", str(tmp_path / "run.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "run.png")), np.asarray(ab))


def test_translate_refuses_bad_inputs(tmp_path, pix2pix_checkpoint, capsys):
    huge = tmp_path / "huge.png"
    huge.write_bytes(huge_png(8000, 8000))
    with pytest.raises(TranslateError, match="huge.png: too large: 8000x8000 pixels"):
        open_input(huge)
    text = tmp_path / "a.png"
    text.write_text("hello")
    with pytest.raises(TranslateError, match="a.png: not an image"):
        open_input(text)
    link = tmp_path / "link.png"
    link.symlink_to(text)
    with pytest.raises(TranslateError, match="cannot read"):
        open_input(link)
    assert cli_translate(["--checkpoint", str(pix2pix_checkpoint), "--image", str(huge), "--out", str(tmp_path / "o.png")]) == 2
    assert "too large" in capsys.readouterr().err and not (tmp_path / "o.png").exists()
    not_translation = tmp_path / "dcgan.safetensors"
    not_translation.write_bytes(st_save({"G.w": torch.zeros(1)}, metadata={"gan_studio": '{"config": {"model": "dcgan"}}'}))
    assert cli_translate(["--checkpoint", str(not_translation), "--image", str(text), "--out", str(tmp_path / "o.png")]) == 2
    assert "not a translation run" in capsys.readouterr().err


def test_translate_never_writes_over_its_input(tmp_path, pix2pix_checkpoint, capsys):
    """--out set to the input's folder (or to the input file) once replaced the user's drawing
    with its translation; now nothing is written and the input stays byte for byte."""
    inputs = tmp_path / "drawings"
    inputs.mkdir()
    Image.new("L", (64, 64), 255).save(inputs / "boot.png")
    Image.new("L", (64, 64), 0).save(inputs / "sock.png")
    Image.new("L", (64, 64), 0).save(inputs / "sock.jpg")  # its translation would be named sock.png
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    ckpt = ["--checkpoint", str(pix2pix_checkpoint)]
    assert cli_translate(ckpt + ["--image", str(inputs / "boot.png"), "--out", str(inputs)]) == 2
    assert "is the input itself" in capsys.readouterr().err
    assert cli_translate(ckpt + ["--image", str(inputs / "boot.png"), "--out", str(inputs / "." / "boot.png")]) == 2
    assert cli_translate(ckpt + ["--image", str(inputs / "sock.jpg"), "--out", str(inputs)]) == 2
    assert "already holds sock.png" in capsys.readouterr().err
    assert cli_translate(ckpt + ["--image-dir", str(inputs), "--out", str(inputs / "..") + "/drawings"]) == 2
    assert "is the input folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before
    assert cli_translate(ckpt + ["--image", str(inputs / "boot.png"), "--out", str(tmp_path)]) == 0  # elsewhere: fine
    assert (tmp_path / "boot.png").is_file()


def test_translate_device_flag_is_read_like_trains(tmp_path, pix2pix_checkpoint, capsys):
    """--device auto (train's default) and a device that is not there ended in torch's traceback."""
    src = tmp_path / "boot.png"
    Image.new("L", (40, 40), 255).save(src)
    ckpt = ["--checkpoint", str(pix2pix_checkpoint), "--image", str(src)]
    assert cli_translate(ckpt + ["--out", str(tmp_path / "auto.png"), "--device", "auto"]) == 0
    assert cli_translate(ckpt + ["--out", str(tmp_path / "gpu.png"), "--device", "gpu"]) == 2
    assert "'gpu' is not a device" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert cli_translate(ckpt + ["--out", str(tmp_path / "cuda.png"), "--device", "cuda"]) == 2
        assert "no CUDA GPU here" in capsys.readouterr().err
        assert cli_translate(ckpt + ["--out", str(tmp_path / "cuda.png"), "--device", "cuda:1"]) == 2
    assert not (tmp_path / "gpu.png").exists() and not (tmp_path / "cuda.png").exists()


def test_translate_outputs_are_as_readable_as_samples(tmp_path, pix2pix_checkpoint):
    """translate's PNGs came out 0600 (its temp file's mode), unreadable to a web server or a
    colleague, while sample's and superres's follow the umask."""
    src = tmp_path / "boot.png"
    Image.new("L", (40, 40), 255).save(src)
    old = os.umask(0o022)
    try:
        assert cli_translate(["--checkpoint", str(pix2pix_checkpoint), "--image", str(src),
                              "--out", str(tmp_path / "out" / "boot.png")]) == 0
        assert cli_translate(["--checkpoint", str(pix2pix_checkpoint), "--image-dir", str(tmp_path),
                              "--out", str(tmp_path / "all")]) in (0, 1)
    finally:
        os.umask(old)
    for path in (tmp_path / "out" / "boot.png", tmp_path / "all" / "boot.png"):
        assert path.stat().st_mode & 0o777 == 0o644, oct(path.stat().st_mode)


def test_translate_out_ending_in_a_slash_is_a_folder(tmp_path, pix2pix_checkpoint):
    """--image x.png --out results/ (not there yet) wrote a file named "results"."""
    src = tmp_path / "boot.jpg"
    Image.new("L", (40, 40), 255).save(src)
    assert cli_translate(["--checkpoint", str(pix2pix_checkpoint), "--image", str(src),
                          "--out", str(tmp_path / "results") + "/"]) == 0
    assert (tmp_path / "results").is_dir() and (tmp_path / "results" / "boot.png").is_file()
    assert cli_translate(["--checkpoint", str(pix2pix_checkpoint), "--image", str(src),
                          "--out", str(tmp_path / "painted")]) == 0  # no slash: a file of that name, as before
    assert (tmp_path / "painted").is_file()
    # another image suffix held PNG bytes under a .jpg name: refused, nothing written
    assert cli_translate(["--checkpoint", str(pix2pix_checkpoint), "--image", str(src),
                          "--out", str(tmp_path / "painted.jpg")]) == 2
    assert not (tmp_path / "painted.jpg").exists()


def test_a_held_out_image_of_a_set_that_is_gone_says_why(tmp_path):
    """A run's data moved or deleted after training: the page's "Data set image" said only "no
    held-out image 0 in <set>", as if the index were out of range."""
    from gan_core.config import TrainConfig, preset_for

    pairs = tmp_path / "pairs"
    for side in ("A", "B"):
        (pairs / side).mkdir(parents=True)
        Image.new("L", (20, 20), 9).save(pairs / side / "0.png")
    cfg = TrainConfig.from_dict({**preset_for(str(pairs), "pix2pix"), "paired_transform": "folder", "channels": 1})
    x, target = held_out_example(cfg, 0)
    assert x.shape == target.shape == (1, 1, 32, 32)
    (pairs / "A" / "0.png").unlink(), (pairs / "B" / "0.png").unlink()
    (pairs / "A").rmdir(), (pairs / "B").rmdir(), pairs.rmdir()
    with pytest.raises(TranslateError, match=r"no held-out image 0 in .*pairs: .*pairs does not exist"):
        held_out_example(cfg, 0)


def test_a_held_out_index_past_the_test_split_wraps_within_it(tmp_path):
    """pix2pix on a small set: "Held-out image" 5 of a 1-image test split showed training image 5
    as held out (and on a smaller set said "no held-out image"); it wraps, as CycleGAN's does."""
    from gan_core.config import TrainConfig, preset_for

    for i in range(12):  # every 10th file is held out: 9.png only
        Image.new("L", (16, 16), 20 * i).save(tmp_path / f"{i:02d}.png")
    cfg = TrainConfig.from_dict({**preset_for(str(tmp_path), "pix2pix"), "channels": 1, "resolution": 16})
    held_out = load_dataset(str(tmp_path), 16, 1, split="test").images
    assert len(held_out) == 1
    for index in (0, 5, 999):
        x, target = held_out_example(cfg, index)
        assert torch.equal(target, held_out[:1]), index


def test_translator_prepares_any_image_and_data_set_inputs(pix2pix_checkpoint, fashion):
    t = load_translator(checkpoint=pix2pix_checkpoint)
    x = t.prepare(Image.new("RGB", (90, 30), (255, 0, 0)))
    assert x.shape == (1, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    # a drawing on a transparent canvas: black strokes, the rest white paper for an outline model
    canvas = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    canvas.paste((0, 0, 0, 255), (10, 10, 54, 14))
    x = t.prepare(canvas)
    assert (x == 1).float().mean() > 0.8 and (x < 0).any()
    drawing = t.input_from_target(fashion.images[:2])
    assert torch.equal(drawing, edges(fashion.images[:2]))
    assert t.translate(drawing).shape == (2, 1, 32, 32)
    with pytest.raises(TranslateError, match="translates one way"):
        t.translate(drawing, reverse=True)


def test_progress_grid_and_round_trip(cyclegan_checkpoint, shapes_rgb, fashion):
    t = load_translator(checkpoint=cyclegan_checkpoint)
    x = shapes_rgb.images[:4]
    there, back = t.round_trip(x)
    assert torch.equal(there, t.translate(x)) and torch.equal(back, t.translate(there, reverse=True))
    grid = progress_grid(t.G, "cyclegan", x, shapes_rgb.images[4:8])
    assert grid.shape == (3, 6 * 34 + 2, 4 * 34 + 2) and 0 <= grid.min() and grid.max() <= 1
    G, _ = build_pix2pix(1, 1, 32, 4, 4)
    G.train()
    grid = progress_grid(G, "pix2pix", edges(fashion.images[:5]), fashion.images[:5])
    assert grid.shape == (3, 3 * 34 + 2, 5 * 34 + 2) and G.training  # mode restored
