"""Inpainting and super-resolution (gan_core.restore, runtypes.restoration, data.masks)
on the procedural shapes set with seconds-long runs: every method from the CLI, batch
folders, empty and full masks, size and channel mismatches, and the two run types."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_env, train_in_two_parts
from gan_core.data import masks
from gan_core import restore as R
from gan_core.config import TrainConfig
from gan_core.data.images import load_dataset
from gan_core.restore.repair import sr_tiled
from gan_core.runs.rundir import RunDir
from gan_core.training.loop import train

TINY = dict(data="shapes", resolution=16, channels=3, width=8, z_dim=16, batch_size=16, steps=20, log_every=5,
            sample_every=10, checkpoint_every=10, threads=1, loss="hinge", spectral_norm=True, d_norm="none",
            conditional=False, ema=False)
RUNS = {
    "prior": dict(model="dcgan"),
    "prior-cond": dict(model="dcgan", conditional=True),
    "sr": dict(model="srgan", scale=2),
    "ip": dict(model="inpaint-gan"),
}


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    """Tiny trained runs (20 steps each), shared by the module's tests."""
    root = tmp_path_factory.mktemp("restore-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_CHECKPOINTS", str(root))
        for name, extra in RUNS.items():
            run = RunDir.create(name, TrainConfig.from_dict({**TINY, **extra}), root)
            assert train(run) == "finished", run.read_status()
    return root


@pytest.fixture
def runs(runs_root, monkeypatch):
    monkeypatch.setenv("GAN_CHECKPOINTS", str(runs_root))
    return runs_root


@pytest.fixture(scope="module")
def shape_image() -> Image.Image:
    return R.from_tensor(load_dataset("shapes", 16, 3, split="test", limit=1).images[0])


def cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m gan_core ARGS`` in a child process."""
    return subprocess.run([sys.executable, "-m", "gan_core", *args], capture_output=True, text=True, env=run_env(), timeout=120)


@pytest.fixture
def cli_here(capsys):
    """The same command line through ``gan_core.cli.main`` in this process (no interpreter
    start-up per call); returns a CompletedProcess like ``cli``."""
    from gan_core.cli.main import main

    def call(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        rc = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, rc, out, err)

    return call


# ---- masks ---------------------------------------------------------------------------------
def test_mask_presets_are_white_where_missing():
    box = masks.mask_from_pil(masks.preset("centre box", (28, 28)))
    assert box.sum() == 14 * 14 and box[7:21, 7:21].all()
    assert masks.mask_from_pil(masks.preset("half", (10, 8)))[:, 5:].all()
    strokes = masks.preset("random strokes", (32, 32), seed=3)
    assert np.array_equal(np.asarray(strokes), np.asarray(masks.preset("random strokes", (32, 32), seed=3)))
    assert 0 < masks.mask_from_pil(strokes).mean() < 0.8
    assert masks.mask_from_pil(masks.preset("none", (5, 5))).sum() == 0
    assert masks.mask_from_pil(masks.preset("all", (5, 5))).all()
    # transparency counts as known: an RGBA mask with a transparent white half
    rgba = Image.new("RGBA", (4, 4), (255, 255, 255, 255))
    rgba.paste((255, 255, 255, 0), (0, 0, 2, 4))
    assert masks.mask_from_pil(rgba)[:, :2].sum() == 0 and masks.mask_from_pil(rgba)[:, 2:].all()


def test_training_masks_are_reproducible_boxes_and_strokes():
    a = masks.random_masks(64, 32, torch.Generator().manual_seed(1))
    b = masks.random_masks(64, 32, torch.Generator().manual_seed(1))
    assert a.shape == (64, 1, 32, 32) and torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    share = a.mean((1, 2, 3))
    assert (share > 0).all() and (share < 0.6).all()


# ---- metrics and blending ---------------------------------------------------------------------
def test_psnr_ssim_and_poisson_blend(shape_image):
    assert R.psnr(shape_image, shape_image) == float("inf")
    assert R.ssim(shape_image, shape_image) == pytest.approx(1.0)
    noisy = Image.fromarray(np.clip(np.asarray(shape_image).astype(int) + 20, 0, 255).astype(np.uint8))
    assert 15 < R.psnr(shape_image, noisy) < 30 and R.ssim(shape_image, noisy) < 1
    # a source that differs from the target by a constant blends in seamlessly
    target = np.full((12, 12, 1), 0.5)
    hole = np.zeros((12, 12))
    hole[3:9, 3:9] = 1
    out = R.poisson_blend(target, target + 0.3, hole)
    assert np.allclose(out, 0.5, atol=1e-6)


# ---- the run types ------------------------------------------------------------------------------
def test_restoration_runs_ignore_conditional_and_refuse_sampling(tmp_path, cli_here):
    cfg = TrainConfig.from_dict({**TINY, "model": "srgan", "scale": 4, "conditional": True})
    run = RunDir.create("sr4-cond", cfg)
    assert train(run) == "finished"
    assert run.latest_checkpoint().meta["classes"] == []
    assert [step for step, _ in run.sample_grids()] == [0, 10, 20]  # input | output | target grids
    res = cli_here("sample", "--run", "sr4-cond", "--out", str(tmp_path / "s"), "--n", "2")
    assert res.returncode == 2 and "superres" in res.stderr


def test_inpaint_gan_resumes_exactly(monkeypatch):
    """Stopped at step 10 and resumed = trained to the end in one go (masks and warm-up included)."""
    cfg = TrainConfig.from_dict({**TINY, "model": "inpaint-gan", "steps": 20, "log_every": 2})
    whole, parts = RunDir.create("ip-whole", cfg), RunDir.create("ip-parts", cfg)
    assert train(whole) == "finished"
    train_in_two_parts(parts, 10, monkeypatch)
    a = R.load_for("ip-whole", "model").G.state_dict()
    b = R.load_for("ip-parts", "model").G.state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


# ---- every method from the CLI --------------------------------------------------------------------
@pytest.mark.parametrize("method,run", [("prior", "prior"), ("prior", "prior-cond"), ("model", "ip"), ("biharmonic", None)])
def test_inpaint_cli(runs, tmp_path, shape_image, cli_here, method, run):
    shape_image.save(tmp_path / "in.png")
    masks.preset("centre box", shape_image.size).save(tmp_path / "mask.png")
    args = ["inpaint", "--method", method, "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
            "--out", str(tmp_path / "out.png"), *(["--steps", "5", "--restarts", "3"] if method == "prior" else [])]
    res = (cli if run == "prior" else cli_here)(*args, *(["--run", run] if run else []))  # one in a child process
    assert res.returncode == 0, res.stderr
    out = Image.open(tmp_path / "out.png")
    assert out.size == shape_image.size and out.mode == "RGB"
    known = masks.mask_from_pil(Image.open(tmp_path / "mask.png")) == 0
    if method != "prior":  # paste blending: known pixels come back exactly
        assert np.array_equal(np.asarray(out)[known], np.asarray(shape_image)[known])


@pytest.mark.parametrize("method,run", [("prior", "prior"), ("model", "sr"), ("bicubic", None), ("lanczos", None)])
def test_superres_cli(runs, tmp_path, shape_image, cli_here, method, run):
    low = shape_image.resize((8, 8), Image.Resampling.BICUBIC)
    low.save(tmp_path / "low.png")
    args = ["superres", "--method", method, "--image", str(tmp_path / "low.png"), "--scale", "2",
            "--out", str(tmp_path / "out.png"), *(["--steps", "5", "--restarts", "3"] if method == "prior" else [])]
    res = (cli if method == "model" else cli_here)(*args, *(["--run", run] if run else []))
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "out.png").size == (16, 16)


def test_search_flags_on_a_method_without_a_search_are_refused_not_dropped(runs, tmp_path, shape_image, cli_here):
    """`inpaint --method model --steps 500` ran the model's one pass and said nothing of --steps."""
    shape_image.save(tmp_path / "in.png")
    masks.preset("centre box", shape_image.size).save(tmp_path / "mask.png")
    common = ["--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "out.png")]
    for args, said in ((["inpaint", "--run", "ip", "--method", "model", "--mask", str(tmp_path / "mask.png"), "--steps", "500"],
                        "--steps shapes the generator-prior search; --method model has none"),
                       (["inpaint", "--method", "biharmonic", "--mask", str(tmp_path / "mask.png"), "--blend", "poisson"],
                        "--blend sets how a prior or model fill"),
                       (["superres", "--method", "bicubic", "--seed", "3", "--class", "1"], "--seed, --class shape")):
        res = cli_here(*args, *common)
        assert res.returncode == 2 and said in res.stderr, res.stderr
    assert not (tmp_path / "out.png").exists()


def test_out_is_checked_before_the_work_and_a_new_folder_ends_with_a_slash(tmp_path, shape_image, cli_here):
    """`--out result` or `--out new/` failed at the save, after the restore had run ("unknown
    file extension: "): the work was lost and a new folder could not be named."""
    shape_image.save(tmp_path / "in.png")
    res = cli_here("superres", "--method", "bicubic", "--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "new") + "/")
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "new" / "in.png").size == (64, 64)
    res = cli_here("superres", "--method", "bicubic", "--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "result"))
    assert res.returncode == 2 and "give a file name ending in .png" in res.stderr and " -> " not in res.stdout


def test_outputs_never_write_over_the_inputs(tmp_path, shape_image, cli_here):
    """`superres --image in/ --out in/` replaced the originals by their upscales without a word."""
    folder = tmp_path / "photos"
    folder.mkdir()
    shape_image.save(folder / "a.png")
    before = (folder / "a.png").read_bytes()
    res = cli_here("superres", "--method", "bicubic", "--image", str(folder), "--out", str(folder) + "/")
    assert res.returncode == 2 and "would write over the input" in res.stderr
    masks.preset("centre box", shape_image.size).save(tmp_path / "mask.png")
    res = cli_here("inpaint", "--method", "biharmonic", "--image", str(folder / "a.png"), "--mask", str(tmp_path / "mask.png"),
                   "--out", str(tmp_path / "mask.png"))
    assert res.returncode == 2 and "mask.png" in res.stderr
    assert (folder / "a.png").read_bytes() == before


def test_superres_scale_0_is_refused_not_read_as_the_default(tmp_path, shape_image, cli_here):
    """``--scale 0`` upscaled x4 without a word (0 read as "not given")."""
    shape_image.save(tmp_path / "low.png")
    res = cli_here("superres", "--method", "bicubic", "--image", str(tmp_path / "low.png"), "--scale", "0",
                   "--out", str(tmp_path / "out.png"))
    assert res.returncode != 0 and "scale must be a whole number from 1 to 16; got 0" in res.stderr
    assert not (tmp_path / "out.png").exists()


def test_cli_batch_folders_with_per_image_masks(runs, tmp_path, shape_image, cli_here):
    src, mask_dir, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    src.mkdir()
    mask_dir.mkdir()
    shape_image.save(src / "a.png")
    shape_image.convert("L").resize((20, 12)).save(src / "b.png")  # grey and another size
    masks.preset("half", (16, 16)).save(mask_dir / "a.png")
    masks.preset("centre box", (20, 12)).save(mask_dir / "b.png")
    res = cli("inpaint", "--run", "ip", "--method", "model", "--image", str(src), "--mask", str(mask_dir), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    b = Image.open(out / "b.png")
    assert b.size == (20, 12) and b.mode == "L"
    res = cli_here("superres", "--run", "sr", "--method", "model", "--image", str(src), "--out", str(tmp_path / "up"))
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "up" / "b.png").size == (40, 24)  # the run's x2 by default


def test_cli_errors_are_clear(runs, tmp_path, shape_image, cli_here):
    shape_image.save(tmp_path / "in.png")
    masks.preset("all", shape_image.size).save(tmp_path / "all.png")
    res = cli_here("inpaint", "--method", "biharmonic", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "all.png"),
              "--out", str(tmp_path / "o.png"))
    assert res.returncode == 1 and "covers the whole image" in res.stderr
    res = cli_here("inpaint", "--run", "prior", "--method", "model", "--image", str(tmp_path / "in.png"),
              "--mask", str(tmp_path / "all.png"), "--out", str(tmp_path / "o.png"))
    assert res.returncode == 2 and "inpaint-gan" in res.stderr
    res = cli_here("superres", "--method", "prior", "--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "o.png"))
    assert res.returncode == 2 and "--run" in res.stderr
    res = cli_here("inpaint", "--run", "ip", "--method", "model", "--image", str(tmp_path / "in.png"),
              "--mask", str(tmp_path / "nomask"), "--out", str(tmp_path / "o.png"))
    assert res.returncode == 2 and "does not exist" in res.stderr


# ---- empty and full masks, size and channel mismatches (in-process) --------------------------------
@pytest.mark.parametrize("method,run", [("prior", "prior"), ("model", "ip"), ("biharmonic", None)])
def test_empty_and_full_masks(runs, shape_image, method, run):
    loaded = R.load_for(run, method) if run else None
    empty = R.inpaint(shape_image, masks.preset("none", shape_image.size), method, loaded, steps=3, restarts=2)
    assert np.array_equal(np.asarray(empty.image), np.asarray(shape_image)) and "nothing" in empty.info["note"]
    full = masks.preset("all", shape_image.size)
    if method == "biharmonic":
        with pytest.raises(R.RestoreError, match="covers the whole image"):
            R.inpaint(shape_image, full, method)
        return
    seen = []
    out = R.inpaint(shape_image, full, method, loaded, steps=3, restarts=2, progress=seen.append)
    assert out.image.size == shape_image.size and out.image.mode == "RGB" and seen[-1] == 1.0
    assert np.asarray(out.image).std() > 0  # a generated image, not a blank


def test_size_and_channel_mismatches(runs, shape_image):
    grey = shape_image.convert("L").resize((21, 13))
    mask = masks.preset("centre box", grey.size)
    for method, run in (("prior", "prior"), ("model", "ip")):
        out = R.inpaint(grey, mask, method, R.load_for(run, method), steps=3, restarts=2, blend="paste")
        assert out.image.mode == "L" and out.image.size == (21, 13)
        known = masks.mask_from_pil(mask) == 0
        assert np.array_equal(np.asarray(out.image)[known], np.asarray(grey)[known])
    rgba = shape_image.convert("RGBA").resize((10, 6))
    up = R.superres(rgba, 4, "model", R.load_for("sr", "model"))  # x2 run asked for x4: resized out
    assert up.image.size == (40, 24) and up.image.mode == "RGB"
    up = R.superres(grey, 2, "prior", R.load_for("prior-cond", "prior"), steps=3, restarts=4, class_index=1)
    assert up.image.size == (42, 26) and up.image.mode == "L" and up.info["class"] == "square"


def test_a_larger_mask_keeps_its_thin_strokes_and_small_holes(shape_image):
    """A mask of another size than the image: every hole must survive the shrink (nearest
    sampling kept a 2-px stroke of a 4x mask on no row at all, and a small box on none)."""
    big = Image.new("L", (64, 64), 0)
    big.paste(255, (0, 28, 64, 30))  # a 2-px line across rows 28-29 of a 4x mask
    m = masks.mask_from_pil(big, shape_image.size)
    assert m[7].all() and m.sum() == 16
    box = Image.new("L", (10, 10), 0)
    box.paste(255, (3, 3, 7, 7))
    tiny = shape_image.resize((3, 2))
    out = R.inpaint(tiny, box, "biharmonic")
    assert out.info["missing_fraction"] > 0 and "note" not in out.info


def test_srgan_model_upscales_the_input_as_it_is_not_squashed_to_its_training_size(runs):
    """The srgan G is fully convolutional: a 32x32 input to a run trained on 8x8 LR patches
    must keep its detail (it was squashed to 8x8 and stretched back, far below bicubic)."""
    original = R.from_tensor(load_dataset("shapes", 64, 3, split="test", limit=1).images[0])
    low, _ = R.degrade_for_demo(original, "superres", scale=2)
    loaded = R.load_for("sr", "model")
    model, base = R.superres(low, 2, "model", loaded), R.superres(low, 2, "bicubic")
    assert model.image.size == (64, 64)
    assert R.psnr(original, model.image) > R.psnr(original, base.image) - 1.0
    x = torch.rand(1, 3, 40, 50) * 2 - 1  # tiles of 16 px with 16 px context = one pass
    with torch.no_grad():
        assert torch.allclose(sr_tiled(loaded.G, x, 2, tile=16, margin=16), loaded.G(x), atol=1e-5)


def test_a_big_hole_is_solved_at_a_bounded_size(shape_image, monkeypatch):
    """A hole's sparse solve grows with its pixels (a 1 MP upload with most of it masked took 45 s
    and 4 GB for the biharmonic baseline the page runs beside every method): over
    MAX_HOLE_PIXELS it is solved at a reduced scale, and the result stays close to the exact one."""
    import scipy.sparse.linalg
    import skimage.restoration

    image = shape_image.resize((96, 96), Image.Resampling.BICUBIC)
    mask = masks.preset("centre box", image.size)  # 48x48 = 2304 missing pixels
    m, known = masks.mask_from_pil(mask), R.to_array(image)
    source = R.to_array(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    exact_fill, exact_blend = R.inpaint(image, mask, "biharmonic").image, R.poisson_blend(known, source, m)
    monkeypatch.setattr(R.images, "MAX_HOLE_PIXELS", 600, raising=False)
    solved = []
    bih, spsolve = skimage.restoration.inpaint_biharmonic, scipy.sparse.linalg.spsolve
    monkeypatch.setattr(skimage.restoration, "inpaint_biharmonic", lambda a, hole, **kw: solved.append(int(hole.sum())) or bih(a, hole, **kw))
    monkeypatch.setattr(scipy.sparse.linalg, "spsolve", lambda A, b: solved.append(A.shape[0]) or spsolve(A, b))
    fill, blend = R.inpaint(image, mask, "biharmonic").image, R.poisson_blend(known, source, m)
    assert len(solved) == 2 and max(solved) <= 600
    assert R.psnr(exact_fill, fill) > 30
    assert R.psnr(R.from_array(exact_blend), R.from_array(blend)) > 30
    assert np.array_equal(blend[m == 0], known[m == 0])


def test_demo_degradation_and_page_helpers(runs, shape_image):
    low, none = R.degrade_for_demo(shape_image, "superres", scale=4)
    assert low.size == (4, 4) and none is None
    holed, mask = R.degrade_for_demo(shape_image, "inpaint", mask=masks.preset("centre box", (16, 16)))
    assert (np.asarray(holed)[masks.mask_from_pil(mask) > 0] == 128).all()
    assert set(R.fitting_runs("inpaint", "prior")) == {"prior", "prior-cond"}
    assert R.fitting_runs("superres", "model") == ["sr"] and R.fitting_runs("inpaint", "model") == ["ip"]


def test_fitting_runs_puts_the_matching_most_trained_run_first(tmp_path, monkeypatch):
    """The restore pages' default: same data set and size first, then the most trained."""
    monkeypatch.setenv("GAN_CHECKPOINTS", str(tmp_path))
    for name, data, steps in (("young", "shapes", 800), ("old", "shapes", 6000), ("other", "digits", 9000)):
        cfg = TrainConfig.from_dict({**TINY, "data": data, "model": "dcgan"})
        RunDir.create(name, cfg, tmp_path).save_checkpoint(steps, {"G.w": torch.zeros(1)}, {})
    assert R.fitting_runs("inpaint", "prior", data="shapes", resolution=16) == ["old", "young", "other"]
    assert R.fitting_runs("inpaint", "prior") == ["other", "old", "young"]
    assert R.fitting_runs("inpaint", "prior", data="shapes", resolution=32) == ["old", "young", "other"]
    assert R.young_run_note(800, "prior") and R.young_run_note(R.YOUNG_STEPS, "prior") is None
